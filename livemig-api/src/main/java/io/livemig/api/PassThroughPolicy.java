package io.livemig.api;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * What a migration does with each pass-through device, by device id: migrate its state like any
 * device (the default), fail it over (the source unplugs it with the guest's acknowledgement
 * before the migration, the guest runs on its virtual twin, the destination plugs an equivalent
 * device after the resume), or refuse to migrate the VM at all. Give the same policy to both
 * sides: the source unplugs and leaves the device out of what it sends, the destination plugs it
 * back. Immutable; build with {@link #NONE} and the {@code with} methods.
 *
 * <pre>{@code
 * PassThroughPolicy policy = PassThroughPolicy.NONE
 *         .with("vf0", PassThroughPolicy.Action.FAILOVER)
 *         .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(10));
 * }</pre>
 *
 * @param actions        the action per device id; a device not listed migrates its state
 * @param unplugTimeout  how long the source waits for the guest to release a failover device
 * @param replugTimeout  how long the destination waits for the guest to take it back
 */
public record PassThroughPolicy(Map<String, Action> actions, Duration unplugTimeout, Duration replugTimeout) {

    /** What to do with one device. */
    public enum Action {
        /** Migrate the device's state like any device's (the default). */
        MIGRATE_STATE,
        /** Unplug it at the source before the migration, plug an equivalent one at the destination. */
        FAILOVER,
        /** Do not migrate a VM that has it: the migration fails before anything is sent. */
        REFUSE
    }

    /** No pass-through device: every device migrates its state; 10 s for each hot-plug step. */
    public static final PassThroughPolicy NONE = new PassThroughPolicy(Map.of(), Duration.ofSeconds(10),
            Duration.ofSeconds(10));

    /**
     * Checks the parts and copies the map.
     *
     * @throws NullPointerException     for a null part
     * @throws IllegalArgumentException for a timeout that is not positive
     */
    public PassThroughPolicy {
        actions = Map.copyOf(new TreeMap<>(actions));
        positive(unplugTimeout, "unplugTimeout");
        positive(replugTimeout, "replugTimeout");
    }

    private static void positive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, was " + d);
        }
    }

    /**
     * {@return this policy with {@code action} for device {@code deviceId}}
     *
     * @param deviceId the device's id, as the provider names it
     * @param action   what to do with it
     */
    public PassThroughPolicy with(String deviceId, Action action) {
        Map<String, Action> next = new TreeMap<>(actions);
        next.put(Objects.requireNonNull(deviceId, "deviceId"), Objects.requireNonNull(action, "action"));
        return new PassThroughPolicy(next, unplugTimeout, replugTimeout);
    }

    /**
     * {@return this policy with other hot-plug timeouts}
     *
     * @param unplug how long the source waits for the guest to release a device, positive
     * @param replug how long the destination waits for the guest to take it back, positive
     */
    public PassThroughPolicy withTimeouts(Duration unplug, Duration replug) {
        return new PassThroughPolicy(actions, unplug, replug);
    }

    /**
     * {@return what to do with device {@code deviceId}: its action, or {@link Action#MIGRATE_STATE}}
     *
     * @param deviceId the device's id
     */
    public Action actionFor(String deviceId) {
        return actions.getOrDefault(deviceId, Action.MIGRATE_STATE);
    }
}
