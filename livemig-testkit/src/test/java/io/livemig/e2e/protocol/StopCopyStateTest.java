package io.livemig.e2e.protocol;

import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.Strategy;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static io.livemig.e2e.protocol.HostileSource.PAGE;
import static io.livemig.e2e.protocol.HostileSource.PLAIN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The vCPU and device state a source sends in stop-copy: buffered only up to
 * {@link ReceiveLimits#maxStateBytes()} in all (the frame that would cross it is refused), and
 * only for a vCPU or device the target has, in the target's vCPU state format.
 */
class StopCopyStateTest {

    private static final String FORMAT = "livemig-mem-vcpu-v1";

    /** Runs the handshake for a VM with {@code devices} and sends SWITCHOVER. */
    private static HostileSource stopped(MigrationOptions options, List<String> devices) throws Exception {
        HostileSource source = new HostileSource(options, ObservedTarget::asAnnounced);
        source.hello(PLAIN, Wire.DEFAULT_MAX_FRAME_BYTES);
        source.send(new HandshakeFrames.Setup(Strategy.COLD, false, false,
                new VmDescriptor(MemoryLayout.contiguous(PAGE, 64L * PAGE), 2, devices, FORMAT), 64));
        source.expect(FrameType.READY);
        source.send(new SwitchoverFrames.Switchover());
        return source;
    }

    /**
     * {@return a state the in-memory target loads: vCPU index, padding, a non-zero generator,
     * write count and cursor}
     */
    static byte[] wellFormed(int vcpu) {
        return ByteBuffer.allocate(32).putInt(vcpu).putInt(0).putLong(1).putLong(0).putLong(0).array();
    }

    @Test
    void theDeviceStateFloodIsRefusedAtTheFrameThatCrossesTheDefaultCap() throws Exception {
        // The attack that took a receiver to 5.7 GB: 16 MiB of state for one device after another.
        List<String> devices = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            devices.add("dev" + i);
        }
        byte[] state = new byte[Wire.DEFAULT_MAX_FRAME_BYTES - 64];
        long cap = ReceiveLimits.DEFAULTS.maxStateBytes();
        int accepted = (int) (cap / state.length);
        try (HostileSource source = stopped(MigrationOptions.builder().build(), devices)) {
            for (int i = 0; i <= accepted; i++) {
                source.send(new SwitchoverFrames.DeviceStateFrame("dev" + i, state));
            }
            ProtocolException p = source.refused();
            assertEquals(Kind.INCOMPATIBLE, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("DEVICE_STATE for device 'dev" + accepted + "'"), p.getMessage());
            assertTrue(p.getMessage().contains("limit of " + cap + ": raise ReceiveLimits.maxStateBytes"),
                    p.getMessage());
            assertEquals(0, source.target().writes());
        }
    }

    @Test
    void vcpuAndDeviceStateCountTogetherAgainstTheCap() throws Exception {
        MigrationOptions options = MigrationOptions.builder()
                .receiveLimits(ReceiveLimits.DEFAULTS.withMaxStateBytes(3000)).build();
        try (HostileSource source = stopped(options, List.of(InMemoryVm.WORKLOAD_DEVICE_ID, "extra"))) {
            // Well-formed vCPU states (32 bytes each here): they load as soon as both are in.
            source.send(new SwitchoverFrames.VcpuStateFrame(new VcpuState(0, FORMAT, wellFormed(0))));
            source.send(new SwitchoverFrames.VcpuStateFrame(new VcpuState(1, FORMAT, wellFormed(1))));
            source.send(new SwitchoverFrames.DeviceStateFrame("extra", new byte[3000 - 64 + 1]));
            ProtocolException p = source.refused();
            assertEquals(Kind.INCOMPATIBLE, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("to 3001 bytes, above this destination's limit of 3000"),
                    p.getMessage());
        }
    }

    @Test
    void stateForADeviceTheTargetDoesNotHaveIsRefused() throws Exception {
        try (HostileSource source = stopped(MigrationOptions.builder().build(), List.of(InMemoryVm.WORKLOAD_DEVICE_ID))) {
            source.send(new SwitchoverFrames.DeviceStateFrame("virtio-net0", new byte[16]));
            ProtocolException p = source.refused();
            assertEquals(Kind.UNEXPECTED, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("'virtio-net0', which the target does not have"), p.getMessage());
        }
    }

    @Test
    void aSecondStateForTheSameDeviceIsRefused() throws Exception {
        try (HostileSource source = stopped(MigrationOptions.builder().build(), List.of(InMemoryVm.WORKLOAD_DEVICE_ID))) {
            source.send(new SwitchoverFrames.DeviceStateFrame(InMemoryVm.WORKLOAD_DEVICE_ID, new byte[16]));
            source.send(new SwitchoverFrames.DeviceStateFrame(InMemoryVm.WORKLOAD_DEVICE_ID, new byte[16]));
            ProtocolException p = source.refused();
            assertEquals(Kind.UNEXPECTED, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("second state for device"), p.getMessage());
        }
    }

    @Test
    void aMalformedVcpuStateIsRefusedOnceAllHaveArrivedBeforeAnyCommit() throws Exception {
        // The states load as soon as every vCPU's is in: the target's refusal comes then, not at COMMIT.
        try (HostileSource source = stopped(MigrationOptions.builder().build(), List.of(InMemoryVm.WORKLOAD_DEVICE_ID))) {
            source.send(new SwitchoverFrames.VcpuStateFrame(new VcpuState(0, FORMAT, wellFormed(0))));
            source.send(new SwitchoverFrames.VcpuStateFrame(new VcpuState(1, FORMAT, new byte[16])));
            ProtocolException p = source.refused();
            assertEquals(Kind.UNEXPECTED, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("the target refused the state"), p.getMessage());
            assertEquals(0, source.target().resumes(), "nothing resumed");
            assertTrue(source.target().discarded(), "the target is discarded");
        }
    }

    @Test
    void vcpuStateInAFormatTheTargetDoesNotTakeIsRefusedAtItsFrame() throws Exception {
        try (HostileSource source = stopped(MigrationOptions.builder().build(), List.of(InMemoryVm.WORKLOAD_DEVICE_ID))) {
            source.send(new SwitchoverFrames.VcpuStateFrame(new VcpuState(1, "kvm-x86-v1", new byte[64])));
            ProtocolException p = source.refused();
            assertEquals(Kind.INCOMPATIBLE, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("state for vCPU 1 in format 'kvm-x86-v1', but the target takes '"
                    + FORMAT + "'"), p.getMessage());
        }
    }
}
