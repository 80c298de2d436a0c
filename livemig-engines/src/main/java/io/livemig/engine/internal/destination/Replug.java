package io.livemig.engine.internal.destination;

import io.livemig.api.PassThroughPolicy;
import io.livemig.api.PassThroughStats;
import io.livemig.api.TimeSource;
import io.livemig.spi.HotPlug;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmOperationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;

/**
 * The destination's part of the pass-through policy: once the VM runs here and the migration
 * ended, plugs an equivalent of each failover device into the guest (the source left them out of
 * what it sent), and reports each outcome. A plug that fails leaves the VM running here without
 * the device: the migration still completed, and the report says what failed.
 */
final class Replug {

    private static final Logger LOG = LoggerFactory.getLogger(Replug.class);

    private Replug() {
    }

    /**
     * @param target       the running VM
     * @param policy       the destination's policy (the same as the source's)
     * @param resumedNanos when the VM resumed here, or -1 if it never did (nothing is plugged then)
     * @param time         the migration's clock
     * @return each failover device's outcome on this side
     */
    static List<PassThroughStats> failoverDevices(MigrationTarget target, PassThroughPolicy policy,
                                                  long resumedNanos, TimeSource time) {
        List<PassThroughStats> outcomes = new ArrayList<>();
        if (resumedNanos < 0) {
            return outcomes;
        }
        for (Map.Entry<String, PassThroughPolicy.Action> e : policy.actions().entrySet()) {
            if (e.getValue() != PassThroughPolicy.Action.FAILOVER) {
                continue;
            }
            String id = e.getKey();
            try {
                HotPlug plug = target.hotPlug().orElseThrow(() -> new VmOperationException(
                        "this target cannot hot-plug devices"));
                plug.plug(id, policy.replugTimeout());
                Duration absent = Duration.ofNanos(Math.max(0, time.nanoTime() - resumedNanos));
                outcomes.add(new PassThroughStats(id, PassThroughStats.Outcome.REPLUGGED, absent, Optional.empty()));
                LOG.info("pass-through device {} plugged back {} ms after the resume", id, absent.toMillis());
            } catch (TimeoutException | RuntimeException failure) {
                String why = failure instanceof TimeoutException ? "the guest did not take it within "
                        + policy.replugTimeout().toMillis() + " ms" : String.valueOf(failure.getMessage());
                Duration absent = Duration.ofNanos(Math.max(0, time.nanoTime() - resumedNanos));
                outcomes.add(new PassThroughStats(id, PassThroughStats.Outcome.REPLUG_FAILED, absent,
                        Optional.of(why)));
                LOG.warn("pass-through device {} could not be plugged back: {}; the VM runs here without it", id, why);
            }
        }
        return outcomes;
    }
}
