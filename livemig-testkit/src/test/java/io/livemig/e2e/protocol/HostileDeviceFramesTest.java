package io.livemig.e2e.protocol;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.internal.wire.DeviceFrames;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.StatefulDevice;
import io.livemig.kit.StatefulDeviceSpec;
import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile source's DEVICE_DATA and DEVICE_STATE against a target with a device that migrates by
 * its data stream: each is refused with a reason that names the device, and the target, made
 * already, is discarded without ever running.
 */
class HostileDeviceFramesTest {

    private static final StatefulDeviceSpec NIC = StatefulDeviceSpec.of("nic0", 64L << 10).withChunkBytes(4096)
            .withStates(true, true);

    private static VmDescriptor announced() {
        try (InMemoryVm shape = InMemoryVm.builder().memoryBytes(1L << 20).statefulDevice(NIC).build()) {
            return shape.descriptor();
        }
    }

    private static HostileSource ready(VmDescriptor announced) throws Exception {
        HostileSource source = new HostileSource(MigrationOptions.builder().build(), ObservedTarget::built);
        source.hello(HostileSource.PLAIN, Wire.DEFAULT_MAX_FRAME_BYTES);
        source.send(new HandshakeFrames.Setup(Strategy.PRECOPY, false, false, announced, 16, List.of()));
        source.expect(FrameType.READY);
        return source;
    }

    /** @return a whole, valid stream of the device's state, as a source device gives it in STOP_COPY */
    private static byte[] validStream() {
        StatefulDevice device = new StatefulDevice(NIC, TimeSource.system());
        try {
            DeviceMigration m = device.migration().orElseThrow();
            m.transition(DeviceState.STOP_COPY);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteBuffer chunk = ByteBuffer.allocate(16 << 10);
            for (int n; (n = m.read(chunk.clear())) >= 0; ) {
                out.write(chunk.array(), 0, n);
            }
            return out.toByteArray();
        } finally {
            device.close();
        }
    }

    @Test
    void dataForADeviceTheTargetLacksIsRefused() throws Exception {
        try (HostileSource source = ready(announced())) {
            source.send(new DeviceFrames.DeviceData("gpu9", false, new byte[] {1, 2, 3}));
            ProtocolException refused = source.refused();
            assertEquals(ProtocolException.Kind.UNEXPECTED, refused.kind());
            assertTrue(refused.getMessage().contains("gpu9"), refused.getMessage());
        }
    }

    @Test
    void dataForADeviceThatTakesItsStateWholeIsRefused() throws Exception {
        try (HostileSource source = ready(announced())) {
            source.send(new DeviceFrames.DeviceData(InMemoryVm.WORKLOAD_DEVICE_ID, false, new byte[] {1}));
            ProtocolException refused = source.refused();
            assertTrue(refused.getMessage().contains("takes its state whole"), refused.getMessage());
        }
    }

    @Test
    void aWholeStateForADeviceThatStreamsIsRefused() throws Exception {
        try (HostileSource source = ready(announced())) {
            source.send(new SwitchoverFrames.Switchover());
            source.send(new SwitchoverFrames.DeviceStateFrame(NIC.id(), new byte[] {4, 5, 6}));
            ProtocolException refused = source.refused();
            assertTrue(refused.getMessage().contains("migrates by its data stream"), refused.getMessage());
        }
    }

    @Test
    void garbageInADevicesStreamFailsTheMigrationNamingTheDevice() throws Exception {
        byte[] garbage = new byte[4096];
        Arrays.fill(garbage, (byte) 0x5A);
        try (HostileSource source = ready(announced())) {
            source.send(new DeviceFrames.DeviceData(NIC.id(), false, garbage));
            source.send(new DeviceFrames.DeviceData(NIC.id(), true, new byte[0]));
            Throwable failure = source.failure();
            assertTrue(failure instanceof MigrationException, String.valueOf(failure));
            assertTrue(failure.getMessage().contains(NIC.id()), failure.getMessage());
            assertTrue(source.target().discarded(), "the target is discarded");
            assertTrue(source.target().vm().vcpus().isPaused(), "and never ran");
        }
    }

    @Test
    void dataAfterTheStreamsEndIsRefused() throws Exception {
        try (HostileSource source = ready(announced())) {
            source.send(new DeviceFrames.DeviceData(NIC.id(), false, validStream()));
            source.send(new DeviceFrames.DeviceData(NIC.id(), true, new byte[0]));
            source.send(new DeviceFrames.DeviceData(NIC.id(), false, new byte[] {7}));
            ProtocolException refused = source.refused();
            assertTrue(refused.getMessage().contains("after its end"), refused.getMessage());
        }
    }

    @Test
    void aCommitBeforeTheStreamEndedIsRefused() throws Exception {
        VmDescriptor announced = announced();
        try (HostileSource source = ready(announced)) {
            source.send(new SwitchoverFrames.Switchover());
            for (int i = 0; i < announced.vcpuCount(); i++) {
                source.send(new SwitchoverFrames.VcpuStateFrame(new VcpuState(i, announced.vcpuStateFormat(),
                        StopCopyStateTest.wellFormed(i))));
            }
            // The workload device's whole state is there, the stateful device's stream never ended.
            source.send(new SwitchoverFrames.DeviceStateFrame(InMemoryVm.WORKLOAD_DEVICE_ID, new byte[32]));
            source.send(new SwitchoverFrames.Commit(announced.vcpuCount(), announced.deviceIds().size(), false));
            ProtocolException refused = source.refused();
            assertEquals(ProtocolException.Kind.INCONSISTENT_LENGTH, refused.kind(), refused.getMessage());
            assertTrue(refused.getMessage().contains("data streams that ended"), refused.getMessage());
        }
    }
}
