package io.livemig.e2e;

import io.livemig.api.MigrationReport;

/** Helpers for comparing reports of separate runs. */
public final class Reports {

    private Reports() {
    }

    /**
     * @param report a report
     * @return the same report without its migration id: every migration gets a new random id, so
     *         two runs with the same inputs differ in it and in nothing else
     */
    public static MigrationReport withoutId(MigrationReport report) {
        return new MigrationReport(report.strategy(), report.status(), report.memoryBytes(), report.totals(),
                report.rounds(), report.switchover(), report.encodings(), report.verification(), report.escalations(),
                report.postcopy(), report.failure(), report.disks(), "", report.passThrough(), report.traceReplay());
    }
}
