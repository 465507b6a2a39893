// The producer's counts as /metrics shows them: what an operator alerts on when usage is being lost.
import { expect, test } from 'bun:test';
import { ProxyMetrics, type QueueStats } from '../../src/api/proxy-metrics.ts';

test('usage lost to a full outbox or a failed outbox write, skipped or recovered by the journal, is exported as counted', () => {
  const stats: QueueStats = { outboxBytes: 1 << 30, outboxFiles: 900, queued: 3, journalSkipped: 2, journalRecovered: 40, droppedOutboxFull: 7, droppedIoError: 1 };
  const lines = new ProxyMetrics(() => stats).registry.render().split('\n');
  for (const line of [
    'arouter_outbox_bytes 1073741824',
    'arouter_outbox_files 900',
    'arouter_usage_buffered 3',
    'arouter_usage_journal_skipped 2',
    'arouter_usage_journal_recovered 40',
    'arouter_usage_dropped_outbox_full 7',
    'arouter_usage_dropped_io_error 1',
  ]) expect(lines).toContain(line);
});
