/**
 * Micrometer metrics for livemig: {@link io.livemig.micrometer.LivemigMetrics}, a
 * {@link io.livemig.api.MigrationListener} that records a migration's bytes, pages, rounds,
 * downtime, total time and live progress to a Micrometer {@code MeterRegistry}.
 */
@SuppressWarnings("requires-transitive-automatic")
module io.livemig.micrometer {
    requires transitive io.livemig.api;
    // Micrometer's jar names itself micrometer.core (Automatic-Module-Name); its meters are in this API.
    requires transitive micrometer.core;

    exports io.livemig.micrometer;
}
