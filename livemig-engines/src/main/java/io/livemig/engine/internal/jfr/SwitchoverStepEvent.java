package io.livemig.engine.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** One step of the source's switchover, as the report's {@code switchover().steps()} lists it. */
@Name("livemig.SwitchoverStep")
@Label("Switchover Step")
@Category({"livemig", "Migration"})
@Description("Where a migration's downtime went: one step of the switchover, in order")
@StackTrace(false)
final class SwitchoverStepEvent extends jdk.jfr.Event {

    @Label("Migration Id")
    String migrationId;

    @Label("Kind")
    String kind;

    @Label("Step Duration")
    @Timespan(Timespan.NANOSECONDS)
    long stepDuration;
}
