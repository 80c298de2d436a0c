package io.livemig.api;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * What the migration did with one failover device ({@link PassThroughPolicy.Action#FAILOVER}), from
 * one side's point of view. The source unplugs and counts the device's absence up to the resume
 * at the destination; the destination plugs it back and counts from the resume to the plug. The
 * device was absent from the guest for the sum of the two sides' {@link #absent()}.
 *
 * @param deviceId the device
 * @param outcome  how its step ended on this side
 * @param absent   how long it was absent from the guest on this side's part of the window
 * @param detail   why a step failed, if one did
 */
public record PassThroughStats(String deviceId, Outcome outcome, Duration absent, Optional<String> detail) {

    /** How a failover device's step ended. */
    public enum Outcome {
        /** Source: the guest released it, and the VM now runs at the destination. */
        UNPLUGGED,
        /** Source: the migration failed after the unplug, and the device was plugged back here. */
        PLUGGED_BACK,
        /** Source: the guest did not release it in time; the migration did not start. */
        UNPLUG_TIMED_OUT,
        /** Destination: the guest took the device back. */
        REPLUGGED,
        /** Destination: plugging it failed or timed out; the VM runs here without it. */
        REPLUG_FAILED
    }

    /**
     * Checks the parts.
     *
     * @throws NullPointerException for a null part
     */
    public PassThroughStats {
        Objects.requireNonNull(deviceId, "deviceId");
        Objects.requireNonNull(outcome, "outcome");
        Objects.requireNonNull(absent, "absent");
        Objects.requireNonNull(detail, "detail");
    }
}
