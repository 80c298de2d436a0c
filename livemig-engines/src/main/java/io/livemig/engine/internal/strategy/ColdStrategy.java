package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationException;
import io.livemig.api.RoundStats;
import io.livemig.spi.PageSet;

import java.time.Duration;

/**
 * Stop-and-copy: pause, send every page (zero pages as bare entries) and every disk block the
 * destination lacks, then the state. The whole
 * transfer is downtime; it is the baseline every live strategy is measured against, and the
 * only strategy that needs no dirty tracking.
 */
final class ColdStrategy implements SourceStrategy {

    @Override
    public Outcome run(CopyContext context) throws MigrationException {
        context.pause(Duration.ZERO, context.layout().memoryBytes());
        PageSet all = context.initialPages();
        CopyContext.RoundResult r = context.sendRound(all, 0, false);
        CopyContext.DiskRound disk = context.sendDiskRound(true);
        long bytes = r.bytesOnWire() + disk.bytesOnWire();
        long nanos = r.nanos() + disk.nanos();
        long bandwidth = nanos > 0 ? (long) (bytes * 1e9 / nanos) : 0;
        context.roundDone(new RoundStats(0, r.pagesSent(), bytes, r.pagesSent(), 0, bandwidth, 0,
                Duration.ZERO, 0, Duration.ofNanos(nanos)));
        return new Commit(false, NOTHING);
    }
}
