package io.livemig.engine.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** A post-copy demand fault at the destination, committed when the faulted page is installed. */
@Name("livemig.DemandFault")
@Label("Post-copy Demand Fault")
@Category({"livemig", "Migration"})
@Description("A vCPU touched a page that had not arrived yet; the time from the fault to the page's installation")
@StackTrace(false)
final class DemandFaultEvent extends jdk.jfr.Event {

    @Label("Page")
    long page;

    @Label("Wait Latency")
    @Timespan(Timespan.NANOSECONDS)
    long waitLatency;
}
