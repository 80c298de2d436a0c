package io.livemig.engine.internal.source;

import io.livemig.api.MigrationPhase;
import io.livemig.api.SourceVmState;

import java.util.EnumSet;
import java.util.Set;

/**
 * Where a source-side migration stands, with the transitions it may take (after Cloud
 * Hypervisor's {@code vm-migration} context):
 * <pre>
 * HANDSHAKE ─► LIVE_COPY ─► STOP_COPY ─► COMMITTED ─► HANDED_OVER ─► DONE
 *                                            │              ▲
 *                                            └► POST_COPY ──┘
 * </pre>
 * Each state says which {@link MigrationPhase} the migration is in and where the VM is, which is
 * what a failure in that state reports, and what the failure does: before COMMITTED the VM is
 * resumed at the source; in COMMITTED (COMMIT sent, RESUMED not seen) it stays paused and its
 * state is unknown; in POST_COPY it is split between the hosts.
 */
public enum SourceState {
    /** HELLO and SETUP exchanged; the VM runs. */
    HANDSHAKE(MigrationPhase.HANDSHAKE, SourceVmState.RUNNING),
    /** Rounds of pages while the VM runs. */
    LIVE_COPY(MigrationPhase.LIVE_COPY, SourceVmState.RUNNING),
    /** The VM is paused by this migration; the rest and the state move. A failure resumes it. */
    STOP_COPY(MigrationPhase.STOP_COPY, SourceVmState.PAUSED),
    /** COMMIT went out; RESUMED has not come back. A failure leaves the VM paused, its state unknown. */
    COMMITTED(MigrationPhase.STOP_COPY, SourceVmState.PAUSED),
    /** The destination runs the VM while pages still move (post-copy). */
    POST_COPY(MigrationPhase.POST_COPY, SourceVmState.SPLIT),
    /** The VM runs at the destination alone; verification may follow. */
    HANDED_OVER(MigrationPhase.VERIFY, SourceVmState.HANDED_OVER),
    /** Finished. */
    DONE(MigrationPhase.DONE, SourceVmState.HANDED_OVER);

    private final MigrationPhase phase;
    private final SourceVmState vmState;

    SourceState(MigrationPhase phase, SourceVmState vmState) {
        this.phase = phase;
        this.vmState = vmState;
    }

    /** @return the migration phase of this state */
    public MigrationPhase phase() {
        return phase;
    }

    /** @return where the VM is in this state */
    public SourceVmState vmState() {
        return vmState;
    }

    /** @return the states this one may move to */
    public Set<SourceState> next() {
        return switch (this) {
            case HANDSHAKE -> EnumSet.of(LIVE_COPY);
            case LIVE_COPY -> EnumSet.of(STOP_COPY);
            case STOP_COPY -> EnumSet.of(COMMITTED);
            case COMMITTED -> EnumSet.of(HANDED_OVER, POST_COPY);
            case POST_COPY -> EnumSet.of(HANDED_OVER);
            case HANDED_OVER -> EnumSet.of(DONE);
            case DONE -> EnumSet.noneOf(SourceState.class);
        };
    }
}
