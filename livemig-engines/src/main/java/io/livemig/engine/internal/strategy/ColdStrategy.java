package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationException;
import io.livemig.api.RoundStats;
import io.livemig.spi.PageSet;

import java.time.Duration;

/**
 * Stop-and-copy: pause, send every page (zero pages as bare entries), then the state. The whole
 * transfer is downtime; it is the baseline every live strategy is measured against, and the
 * only strategy that needs no dirty tracking.
 */
final class ColdStrategy implements SourceStrategy {

    @Override
    public Outcome run(CopyContext context) throws MigrationException {
        context.pause(Duration.ZERO, context.layout().memoryBytes());
        PageSet all = context.initialPages();
        CopyContext.RoundResult r = context.sendRound(all, 0, false);
        long bandwidth = r.nanos() > 0 ? (long) (r.bytesOnWire() * 1e9 / r.nanos()) : 0;
        context.roundDone(new RoundStats(0, r.pagesSent(), r.bytesOnWire(), r.pagesSent(), 0, bandwidth, 0,
                Duration.ZERO, 0, Duration.ofNanos(r.nanos())));
        return new Commit(false, NOTHING);
    }
}
