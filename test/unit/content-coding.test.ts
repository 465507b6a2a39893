// Which answer codings the runtime hands over decoded, so their bytes can be checked and relayed unlabelled.
import { expect, test } from 'bun:test';
import { bodyDecoded } from '../../src/proxy/headers.ts';

test('no coding, identity, or a single coding fetch decodes: decoded', () => {
  for (const v of [null, '', 'identity', 'gzip', 'GZIP', ' x-gzip ', 'deflate', 'br', 'zstd', 'identity, gzip', 'gzip,']) expect(bodyDecoded(v)).toBe(true);
});

test('stacked codings (decoded once) or one fetch does not know: not decoded', () => {
  for (const v of ['gzip, gzip', 'gzip,br', 'compress', 'x-compress', 'aes128gcm', 'gzip, compress']) expect(bodyDecoded(v)).toBe(false);
});
