package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationPhase;
import io.livemig.engine.internal.wire.FrameType;

import java.util.EnumSet;
import java.util.Set;

/**
 * The destination's receive states (docs/protocol.md, section 5), the frames each accepts and the
 * states it may move to:
 * <pre>
 * AWAIT_HELLO ─HELLO─► AWAIT_SETUP ─SETUP─► RECEIVING ─SWITCHOVER─► STOPPED ─COMMIT─┬─► VERIFYING ─DIGESTS_END─► DONE
 *                                           (PAGES, PING,  (PAGES, MISSING_PAGES,   │         ▲
 *                                            STREAMS, SYNC,  VCPU_STATE, DEVICE_STATE,│        │
 *                                            DISK_BLOCKS,    SYNC, PING, DISK_BLOCKS,  │        │
 *                                            DISK_FLUSH,     DISK_FLUSH,              │ (DIGESTS, DISK_VERIFY)
 *                                            DEVICE_DATA)    DEVICE_DATA)             │
 *                                                                                   ├─► DONE  │
 *                                                                                   └─► POSTCOPY ─POSTCOPY_END─┘ (or DONE)
 *                                                                                       (PAGES, SYNC, PING; recovery on a break)
 * </pre>
 * ABORT is accepted in every state; any other frame is refused as UNEXPECTED.
 */
enum ReceiverState {
    AWAIT_HELLO(MigrationPhase.HANDSHAKE, EnumSet.of(FrameType.HELLO)),
    AWAIT_SETUP(MigrationPhase.HANDSHAKE, EnumSet.of(FrameType.SETUP)),
    RECEIVING(MigrationPhase.LIVE_COPY, EnumSet.of(FrameType.PAGES, FrameType.PING, FrameType.SWITCHOVER,
            FrameType.STREAMS, FrameType.SYNC, FrameType.DISK_BLOCKS, FrameType.DISK_FLUSH, FrameType.DEVICE_DATA,
            FrameType.VCPU_STATE, FrameType.CHECKPOINT)),
    /** Trace and replay, after the checkpoint: the log arrives and is replayed while the source runs. */
    REPLAYING(MigrationPhase.LIVE_COPY, EnumSet.of(FrameType.LOG_SEGMENT, FrameType.PING, FrameType.SWITCHOVER)),
    STOPPED(MigrationPhase.STOP_COPY, EnumSet.of(FrameType.PAGES, FrameType.MISSING_PAGES, FrameType.VCPU_STATE,
            FrameType.DEVICE_STATE, FrameType.COMMIT, FrameType.SYNC, FrameType.PING, FrameType.DISK_BLOCKS,
            FrameType.DISK_FLUSH, FrameType.DISK_MISSING, FrameType.DEVICE_DATA, FrameType.LOG_SEGMENT,
            FrameType.DIGESTS, FrameType.DIGESTS_END)),
    POSTCOPY(MigrationPhase.POST_COPY, EnumSet.of(FrameType.PAGES, FrameType.POSTCOPY_END, FrameType.SYNC,
            FrameType.PING, FrameType.DISK_BLOCKS)),
    VERIFYING(MigrationPhase.VERIFY, EnumSet.of(FrameType.DIGESTS, FrameType.DIGESTS_END, FrameType.DISK_VERIFY)),
    DONE(MigrationPhase.DONE, EnumSet.noneOf(FrameType.class));

    private final MigrationPhase phase;
    private final Set<FrameType> accepts;

    ReceiverState(MigrationPhase phase, Set<FrameType> accepts) {
        this.phase = phase;
        this.accepts = accepts;
    }

    /** @return the phase a failure in this state reports */
    MigrationPhase phase() {
        return phase;
    }

    /** @return whether a frame of {@code type} is allowed in this state (ABORT always is) */
    boolean accepts(FrameType type) {
        return type == FrameType.ABORT || accepts.contains(type);
    }

    /** @return whether the return path may be quiet long enough here to need keep-alives */
    boolean needsKeepAlive() {
        return this == AWAIT_SETUP || this == RECEIVING || this == REPLAYING || this == STOPPED;
    }

    /** @return the states this one may move to */
    Set<ReceiverState> next() {
        return switch (this) {
            case AWAIT_HELLO -> EnumSet.of(AWAIT_SETUP);
            case AWAIT_SETUP -> EnumSet.of(RECEIVING);
            case RECEIVING -> EnumSet.of(STOPPED, REPLAYING);
            case REPLAYING -> EnumSet.of(STOPPED);
            case STOPPED -> EnumSet.of(POSTCOPY, VERIFYING, DONE);
            case POSTCOPY -> EnumSet.of(VERIFYING, DONE);
            case VERIFYING -> EnumSet.of(DONE);
            case DONE -> EnumSet.noneOf(ReceiverState.class);
        };
    }
}
