package io.livemig.spi;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A device's migration state, as Linux's VFIO migration v2 defines it ({@code enum
 * vfio_device_mig_state} in {@code linux/vfio.h}, with the same numeric values), and the arcs
 * between the states. Every migratable device supports {@link #RUNNING}, {@link #STOP},
 * {@link #STOP_COPY}, {@link #RESUMING} and {@link #ERROR}; {@link #RUNNING_P2P} comes with peer to
 * peer support, {@link #PRE_COPY} with iterative pre-copy, {@link #PRE_COPY_P2P} with both.
 *
 * <p>The arcs ({@link #arcs()}) are the kernel's; any other change is a combination of arcs along
 * the shortest path, through the optional states the device supports only ({@link #path}), as
 * {@code vfio_mig_get_next_state()} chooses it. A state the device does not support is never
 * entered: without P2P support the P2P states are passed over, as the kernel does.
 */
public enum DeviceState {
    /** Failed; only a reset brings the device back (to {@link #RUNNING}). Never a target. */
    ERROR(0),
    /** Stopped: no DMA, no interrupts, internal state frozen. */
    STOP(1),
    /** Running normally. */
    RUNNING(2),
    /** Stopped, and its state is being read out (a data stream that ends). */
    STOP_COPY(3),
    /** Stopped, and a state from the source is being written in. */
    RESUMING(4),
    /** Running, but initiating no peer to peer DMA (optional). */
    RUNNING_P2P(5),
    /** Running, and its state is being read out iteratively while it runs (optional). */
    PRE_COPY(6),
    /** {@link #PRE_COPY} without peer to peer DMA (optional, needs both). */
    PRE_COPY_P2P(7);

    private final int vfioValue;

    DeviceState(int vfioValue) {
        this.vfioValue = vfioValue;
    }

    /** {@return the state's value in {@code enum vfio_device_mig_state}} */
    public int vfioValue() {
        return vfioValue;
    }

    /**
     * {@return the state whose {@code enum vfio_device_mig_state} value is {@code value}}
     *
     * @param value a value of the enum
     * @throws IllegalArgumentException if no state has it
     */
    public static DeviceState ofVfioValue(int value) {
        for (DeviceState s : values()) {
            if (s.vfioValue == value) {
                return s;
            }
        }
        throw new IllegalArgumentException("no VFIO device state has the value " + value);
    }

    /** {@return whether the state is one a device need not support} */
    public boolean optional() {
        return this == RUNNING_P2P || this == PRE_COPY || this == PRE_COPY_P2P;
    }

    /** {@return whether the device's state is being read out in this state (a data stream is open)} */
    public boolean saving() {
        return this == PRE_COPY || this == PRE_COPY_P2P || this == STOP_COPY;
    }

    /** {@return whether the device's vCPU-visible operation continues in this state} */
    public boolean running() {
        return this == RUNNING || this == RUNNING_P2P || this == PRE_COPY || this == PRE_COPY_P2P;
    }

    /** The mandatory states, which every migratable device supports. */
    public static final Set<DeviceState> MANDATORY = EnumSet.of(ERROR, STOP, RUNNING, STOP_COPY, RESUMING);

    private static final Map<DeviceState, Set<DeviceState>> ARCS = new EnumMap<>(DeviceState.class);

    static {
        ARCS.put(ERROR, EnumSet.noneOf(DeviceState.class));
        ARCS.put(STOP, EnumSet.of(RUNNING_P2P, STOP_COPY, RESUMING));
        ARCS.put(RUNNING, EnumSet.of(RUNNING_P2P, PRE_COPY));
        ARCS.put(STOP_COPY, EnumSet.of(STOP));
        ARCS.put(RESUMING, EnumSet.of(STOP));
        ARCS.put(RUNNING_P2P, EnumSet.of(STOP, RUNNING, PRE_COPY_P2P));
        ARCS.put(PRE_COPY, EnumSet.of(RUNNING, PRE_COPY_P2P));
        ARCS.put(PRE_COPY_P2P, EnumSet.of(PRE_COPY, RUNNING_P2P, STOP_COPY));
    }

    /** {@return the states one arc leads to from this one, as the kernel defines the arcs} */
    public Set<DeviceState> arcs() {
        return EnumSet.copyOf(ARCS.get(this));
    }

    /**
     * The kernel's next step from a state towards another ({@code vfio_mig_get_next_state()}'s
     * table): {@code NEXT[from][to]}, {@link #ERROR} where no path is allowed. A data session is
     * never opened on the way and closed again: a path only passes through a saving state when it
     * starts in one and stays in the same session.
     */
    private static final DeviceState[][] NEXT = new DeviceState[8][8];

    private static void next(DeviceState from, DeviceState... byTarget) {
        // byTarget in the order ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P
        for (int i = 0; i < byTarget.length; i++) {
            NEXT[from.vfioValue][i] = byTarget[i];
        }
    }

    static {
        next(ERROR, ERROR, ERROR, ERROR, ERROR, ERROR, ERROR, ERROR, ERROR);
        next(STOP, ERROR, STOP, RUNNING_P2P, STOP_COPY, RESUMING, RUNNING_P2P, RUNNING_P2P, RUNNING_P2P);
        next(RUNNING, ERROR, RUNNING_P2P, RUNNING, RUNNING_P2P, RUNNING_P2P, RUNNING_P2P, PRE_COPY, RUNNING_P2P);
        next(STOP_COPY, ERROR, STOP, STOP, STOP_COPY, STOP, STOP, ERROR, ERROR);
        next(RESUMING, ERROR, STOP, STOP, STOP, RESUMING, STOP, ERROR, ERROR);
        next(RUNNING_P2P, ERROR, STOP, RUNNING, STOP, STOP, RUNNING_P2P, RUNNING, PRE_COPY_P2P);
        next(PRE_COPY, ERROR, RUNNING, RUNNING, PRE_COPY_P2P, RUNNING, RUNNING, PRE_COPY, PRE_COPY_P2P);
        next(PRE_COPY_P2P, ERROR, RUNNING_P2P, RUNNING_P2P, STOP_COPY, RUNNING_P2P, RUNNING_P2P, PRE_COPY,
                PRE_COPY_P2P);
    }

    /**
     * The states a device passes through from {@code from} to {@code to}, as the kernel walks a
     * combination transition: its next-step table, with the optional states the device does not
     * support passed over (a device without P2P support goes from {@link #RUNNING} to
     * {@link #STOP} directly). A data session is never opened and closed on the way; some changes
     * are not allowed at all ({@link #STOP_COPY} or {@link #RESUMING} to a pre-copy state).
     *
     * @param from      the device's state
     * @param to        the state asked for
     * @param supported the states the device supports (the mandatory ones at least)
     * @return the states entered in order, ending with {@code to}; empty if {@code from == to}
     * @throws IllegalStateException    if the change is not allowed: from or to {@link #ERROR}, to
     *                                  or from a state the device does not support, or one the
     *                                  kernel refuses
     * @throws IllegalArgumentException if {@code supported} lacks a mandatory state
     */
    public static List<DeviceState> path(DeviceState from, DeviceState to, Set<DeviceState> supported) {
        if (!supported.containsAll(MANDATORY)) {
            throw new IllegalArgumentException("a migratable device supports every mandatory state " + MANDATORY
                    + ", this one only " + supported);
        }
        if (from == to) {
            return List.of();
        }
        if (from == ERROR || to == ERROR) {
            throw new IllegalStateException("no transition " + from + " -> " + to
                    + ": ERROR is left by a device reset only, and never asked for");
        }
        if (!supported.contains(to) || !supported.contains(from)) {
            throw new IllegalStateException("no transition " + from + " -> " + to + ": the device supports only "
                    + supported);
        }
        List<DeviceState> path = new ArrayList<>();
        DeviceState at = from;
        while (at != to) {
            DeviceState step = NEXT[at.vfioValue][to.vfioValue];
            while (step != ERROR && !supported.contains(step)) {
                step = NEXT[step.vfioValue][to.vfioValue];
            }
            if (step == ERROR) {
                throw new IllegalStateException("no transition " + from + " -> " + to
                        + ": VFIO migration does not allow it (a data session cannot be reopened that way)");
            }
            path.add(step);
            at = step;
        }
        return List.copyOf(path);
    }
}
