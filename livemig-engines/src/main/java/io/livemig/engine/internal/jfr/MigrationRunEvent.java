package io.livemig.engine.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** A whole migration at the source, from its report, committed when it ends however it ends. */
@Name("livemig.Migration")
@Label("Migration")
@Category({"livemig", "Migration"})
@Description("A migration at the source, when it ends: strategy, outcome, bytes and downtime")
@StackTrace(false)
final class MigrationRunEvent extends jdk.jfr.Event {

    @Label("Migration Id")
    String migrationId;

    @Label("Strategy")
    String strategy;

    @Label("Status")
    String status;

    @Label("Memory")
    @DataAmount(DataAmount.BYTES)
    long memoryBytes;

    @Label("Bytes on the Wire")
    @DataAmount(DataAmount.BYTES)
    long bytesOnWire;

    @Label("Rounds")
    int rounds;

    @Label("Downtime")
    @Timespan(Timespan.NANOSECONDS)
    long downtime;

    @Label("Total Time")
    @Timespan(Timespan.NANOSECONDS)
    long totalTime;
}
