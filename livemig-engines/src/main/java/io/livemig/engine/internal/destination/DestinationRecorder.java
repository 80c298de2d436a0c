package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.PostcopyStats;
import io.livemig.api.Strategy;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.HandshakeFrames;

import java.time.Duration;

/** Yields the destination's {@link MigrationReport} from what its parts recorded. */
final class DestinationRecorder {

    private DestinationRecorder() {
    }

    /**
     * @param postcopy         the post-copy statistics, or null without post-copy
     * @param verificationLost whether the link failed after the resume, before verification ended
     * @return the destination's report of a migration that resumed here
     */
    /**
     * @return the destination's report of a migration that failed before the VM ran here (or
     *         split in post-copy): what arrived until then, and why it stopped
     */
    static MigrationReport failed(TargetSetup setup, DestinationContext context, MigrationCounters counters,
                                  MigrationException error, String migrationId) {
        HandshakeFrames.Setup announced = setup == null ? null : setup.announced();
        return MigrationReport.builder(announced == null ? Strategy.COLD : announced.strategy())
                .status(error instanceof MigrationCancelledException ? MigrationStatus.CANCELLED
                        : MigrationStatus.FAILED)
                .memoryBytes(announced == null ? 0 : announced.descriptor().memoryLayout().memoryBytes())
                .totals(new MigrationReport.Totals(context.totalTime(context.now()), counters.wireBytes(),
                        counters.highestRound() + 1))
                .encodings(counters.encodings(setup == null ? 0 : setup.pageSizeBytes()))
                .failure(error.getMessage())
                .migrationId(migrationId)
                .build();
    }

    static MigrationReport report(TargetSetup setup, DestinationContext context, MigrationCounters counters,
                                  java.util.List<io.livemig.api.PassThroughStats> passThrough, PostcopyStats postcopy,
                                  boolean verificationLost, String migrationId) {
        DestinationVerifier verifier = setup.verifier();
        long end = context.now();
        long totalEnd = verifier != null && verifier.startNanos() >= 0 ? verifier.startNanos() : end;
        return MigrationReport.builder(setup.announced() == null ? Strategy.COLD : setup.announced().strategy())
                .memoryBytes(setup.announced() == null ? 0 : setup.announced().descriptor().memoryLayout().memoryBytes())
                .totals(new MigrationReport.Totals(context.totalTime(totalEnd), counters.wireBytes(),
                        counters.highestRound() + 1))
                .switchover(new MigrationReport.Switchover(context.downtime(), Duration.ZERO, false,
                        context.switchoverSteps()))
                .encodings(counters.encodings(setup.pageSizeBytes()))
                .verification(verifier == null || verificationLost ? MigrationReport.Check.NOT_CHECKED
                        : verifier.result())
                .postcopy(postcopy)
                .disks(setup.disksOrNull() == null ? java.util.List.of() : setup.disksOrNull().stats())
                .migrationId(migrationId)
                .passThrough(passThrough)
                .build();
    }
}
