package io.livemig.engine.internal.destination;

import io.livemig.engine.internal.wire.FrameType;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The receiver accepts exactly the frames docs/protocol.md section 5 lists for each state. */
class ReceiverStateTest {

    private static final Map<ReceiverState, Set<FrameType>> DOCUMENTED = Map.of(
            ReceiverState.AWAIT_HELLO, EnumSet.of(FrameType.HELLO),
            ReceiverState.AWAIT_SETUP, EnumSet.of(FrameType.SETUP),
            ReceiverState.RECEIVING, EnumSet.of(FrameType.PAGES, FrameType.PING, FrameType.SWITCHOVER,
                    FrameType.STREAMS, FrameType.SYNC, FrameType.DISK_BLOCKS, FrameType.DISK_FLUSH,
                    FrameType.DEVICE_DATA, FrameType.VCPU_STATE, FrameType.CHECKPOINT),
            ReceiverState.REPLAYING, EnumSet.of(FrameType.LOG_SEGMENT, FrameType.PING, FrameType.SWITCHOVER),
            ReceiverState.STOPPED, EnumSet.of(FrameType.PAGES, FrameType.MISSING_PAGES, FrameType.VCPU_STATE,
                    FrameType.DEVICE_STATE, FrameType.COMMIT, FrameType.SYNC, FrameType.PING, FrameType.DISK_BLOCKS,
                    FrameType.DISK_FLUSH, FrameType.DISK_MISSING, FrameType.DEVICE_DATA, FrameType.LOG_SEGMENT,
                    FrameType.DIGESTS, FrameType.DIGESTS_END),
            ReceiverState.POSTCOPY, EnumSet.of(FrameType.PAGES, FrameType.POSTCOPY_END, FrameType.SYNC,
                    FrameType.PING, FrameType.DISK_BLOCKS),
            ReceiverState.VERIFYING, EnumSet.of(FrameType.DIGESTS, FrameType.DIGESTS_END, FrameType.DISK_VERIFY),
            ReceiverState.DONE, EnumSet.noneOf(FrameType.class));

    @Test
    void eachStateAcceptsExactlyItsDocumentedFramesAndAbort() {
        assertEquals(EnumSet.allOf(ReceiverState.class), DOCUMENTED.keySet());
        for (ReceiverState state : ReceiverState.values()) {
            for (FrameType type : FrameType.values()) {
                boolean expected = type == FrameType.ABORT || DOCUMENTED.get(state).contains(type);
                assertEquals(expected, state.accepts(type), state + " / " + type);
            }
        }
    }

    @Test
    void noStateAcceptsAReturnPathFrame() {
        for (ReceiverState state : ReceiverState.values()) {
            for (FrameType type : FrameType.values()) {
                if (!type.forward()) {
                    assertFalse(state.accepts(type), state + " / " + type);
                }
            }
        }
    }

    @Test
    void onlyTheStatesBeforeTheResumeSendKeepAlives() {
        assertEquals(EnumSet.of(ReceiverState.AWAIT_SETUP, ReceiverState.RECEIVING, ReceiverState.REPLAYING,
                ReceiverState.STOPPED),
                EnumSet.copyOf(java.util.Arrays.stream(ReceiverState.values()).filter(ReceiverState::needsKeepAlive)
                        .toList()));
        assertTrue(ReceiverState.DONE.next().isEmpty());
    }
}
