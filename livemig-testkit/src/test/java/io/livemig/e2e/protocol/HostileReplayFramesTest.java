package io.livemig.e2e.protocol;

import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.Strategy;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.ReplayFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trace-and-replay frames from a hostile source where they do not belong, and a trace-and-replay
 * SETUP to a target that cannot replay: each is refused with a reason, and the target, if one was
 * made, is discarded without running.
 */
class HostileReplayFramesTest {

    private static VmDescriptor announced() {
        try (InMemoryVm shape = InMemoryVm.builder().memoryBytes(1L << 20).build()) {
            return shape.descriptor();
        }
    }

    private static HostileSource precopy() throws Exception {
        HostileSource source = new HostileSource(MigrationOptions.builder().build(), ObservedTarget::built);
        source.hello(HostileSource.PLAIN, Wire.DEFAULT_MAX_FRAME_BYTES);
        source.send(new HandshakeFrames.Setup(Strategy.PRECOPY, true, false, announced(), 16, List.of()));
        source.expect(FrameType.READY);
        return source;
    }

    @Test
    void aCheckpointInAPrecopyMigrationIsRefused() throws Exception {
        try (HostileSource source = precopy()) {
            source.send(new ReplayFrames.Checkpoint("kit-input-log/1", 0));
            ProtocolException refused = source.refused();
            assertEquals(ProtocolException.Kind.UNEXPECTED, refused.kind());
            assertTrue(refused.getMessage().contains("not one"), refused.getMessage());
        }
    }

    @Test
    void aLogSegmentOutsideTraceAndReplayIsRefused() throws Exception {
        try (HostileSource source = precopy()) {
            source.send(new ReplayFrames.LogChunk(0, 4, ReplayFrames.FLAG_SEGMENT_END, new byte[] {1, 2}));
            ProtocolException refused = source.refused();
            assertEquals(ProtocolException.Kind.UNEXPECTED, refused.kind());
            assertTrue(refused.getMessage().contains("LOG_SEGMENT"), refused.getMessage());
        }
    }

    @Test
    void traceAndReplayToATargetThatCannotReplayIsRefusedAtSetup() throws Exception {
        try (HostileSource source = new HostileSource(MigrationOptions.builder().build(), ObservedTarget::built)) {
            source.hello(HostileSource.PLAIN, Wire.DEFAULT_MAX_FRAME_BYTES);
            source.send(new HandshakeFrames.Setup(Strategy.TRACE_REPLAY, true, false, announced(), 16, List.of()));
            ProtocolException refused = source.refused();
            assertEquals(ProtocolException.Kind.INCOMPATIBLE, refused.kind());
            assertTrue(refused.getMessage().contains("cannot replay"), refused.getMessage());
        }
    }
}
