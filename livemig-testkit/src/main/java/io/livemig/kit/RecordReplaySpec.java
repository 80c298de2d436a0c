package io.livemig.kit;

import java.time.Duration;
import java.util.Objects;

/**
 * How a replayable {@link SimulatedVm} runs, records and replays ({@link SimulatedVm.Builder#replayable(RecordReplaySpec)}):
 * its guest's timer, its input device, and what recording and replay cost.
 *
 * <p>Each tick of the guest's run time reads two inputs, the clock and the input device: 11 bytes
 * of log when the device had nothing, plus the device's bytes. Recording costs the guest
 * {@code recordCostPerInput} of run time per input logged (its exit to the VMM and the append).
 * Replay runs as fast as the CPU goes, idle time between ticks skipped; on a virtual clock it is
 * charged {@code replayCostPerWrite} per page the replayed guest writes and
 * {@code replayCostPerInput} per input it reads, which is what makes replay slower or faster than
 * the recorded run in a simulation. On a wall clock the costs are the CPU's and these two are not
 * charged.
 *
 * @param guestTick           the guest's timer period in run time, at least 1 µs
 * @param inputBytesPerSecond the rate at which the input device's bytes arrive, in the clock's
 *                            time; 0 for a device that never has anything
 * @param recordCostPerInput  run time each logged input takes from the guest, >= 0
 * @param replayCostPerWrite  virtual time each replayed page write takes, >= 0
 * @param replayCostPerInput  virtual time each replayed input takes, >= 0
 */
public record RecordReplaySpec(Duration guestTick, long inputBytesPerSecond, Duration recordCostPerInput,
                               Duration replayCostPerWrite, Duration replayCostPerInput) {

    /**
     * A 10 ms tick (a HZ=100 guest), no input device, free recording, and replay charged 1 µs per
     * page write (4 KiB at 4 GiB/s) and 2 µs per input.
     */
    public static final RecordReplaySpec DEFAULT = new RecordReplaySpec(Duration.ofMillis(10), 0, Duration.ZERO,
            Duration.ofNanos(1_000), Duration.ofNanos(2_000));

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a tick under 1 µs, a negative rate or a negative cost
     */
    public RecordReplaySpec {
        Objects.requireNonNull(guestTick, "guestTick");
        if (guestTick.compareTo(Duration.ofNanos(1_000)) < 0) {
            throw new IllegalArgumentException("the guest tick must be at least 1 µs, was " + guestTick);
        }
        if (inputBytesPerSecond < 0) {
            throw new IllegalArgumentException("inputBytesPerSecond must be >= 0, was " + inputBytesPerSecond);
        }
        for (Duration cost : new Duration[] {recordCostPerInput, replayCostPerWrite, replayCostPerInput}) {
            if (Objects.requireNonNull(cost, "cost").isNegative()) {
                throw new IllegalArgumentException("a cost must be >= 0, was " + cost);
            }
        }
    }

    /**
     * {@return this spec with an input device of that rate}
     *
     * @param bytesPerSecond the rate, >= 0
     */
    public RecordReplaySpec withInputDevice(long bytesPerSecond) {
        return new RecordReplaySpec(guestTick, bytesPerSecond, recordCostPerInput, replayCostPerWrite,
                replayCostPerInput);
    }

    /**
     * {@return this spec with that timer period}
     *
     * @param tick the period, at least 1 µs
     */
    public RecordReplaySpec withGuestTick(Duration tick) {
        return new RecordReplaySpec(tick, inputBytesPerSecond, recordCostPerInput, replayCostPerWrite,
                replayCostPerInput);
    }

    /**
     * {@return this spec with that recording cost}
     *
     * @param perInput run time each logged input takes, >= 0
     */
    public RecordReplaySpec withRecordingCost(Duration perInput) {
        return new RecordReplaySpec(guestTick, inputBytesPerSecond, perInput, replayCostPerWrite, replayCostPerInput);
    }

    /**
     * {@return this spec with those replay costs}
     *
     * @param perWrite virtual time per replayed page write, >= 0
     * @param perInput virtual time per replayed input, >= 0
     */
    public RecordReplaySpec withReplayCost(Duration perWrite, Duration perInput) {
        return new RecordReplaySpec(guestTick, inputBytesPerSecond, recordCostPerInput, perWrite, perInput);
    }
}
