package io.livemig.engine.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Percentage;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** One memory round at the source, as {@link io.livemig.api.RoundStats} reports it. */
@Name("livemig.Round")
@Label("Migration Round")
@Category({"livemig", "Migration"})
@Description("One memory round of a migration at the source")
@StackTrace(false)
final class RoundEvent extends jdk.jfr.Event {

    @Label("Migration Id")
    String migrationId;

    @Label("Round")
    int round;

    @Label("Pages Sent")
    long pagesSent;

    @Label("Bytes on the Wire")
    @DataAmount(DataAmount.BYTES)
    long bytesOnWire;

    @Label("Dirty Pages")
    @Description("Pages dirtied during the round, to send in the next one")
    long dirtyPages;

    @Label("Remaining")
    @DataAmount(DataAmount.BYTES)
    long remainingBytes;

    @Label("Round Duration")
    @Timespan(Timespan.NANOSECONDS)
    long roundDuration;

    @Label("Expected Downtime")
    @Timespan(Timespan.NANOSECONDS)
    long expectedDowntime;

    @Label("Throttle")
    @Percentage
    float throttle;
}
