package io.livemig.engine.internal.source;

import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.DeviceMigration;
import io.livemig.spi.MigratableDevice;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verifyNoInteractions;
import static org.mockito.Mockito.when;

/**
 * {@link DeviceCopy}'s frame buffers: the whole frame limit of direct memory, made before the live
 * copy when a device streams its state, and never for a VM whose devices save their state whole,
 * whose switchover used to allocate them inside the downtime.
 */
class DeviceCopyTest {

    /** A device saved whole ({@code migration} empty) or by its data stream. */
    private record Device(String id, byte[] state, Optional<DeviceMigration> migration) implements MigratableDevice {

        static Device whole(String id, byte... state) {
            return new Device(id, state, Optional.empty());
        }

        @Override
        public byte[] saveState() {
            return state.clone();
        }

        @Override
        public void loadState(byte[] s) {
            throw new UnsupportedOperationException("a source device");
        }
    }

    @Test
    void devicesThatSaveTheirStateWholeGetNoFrameBufferBeforeOrAtTheSwitchover() throws Exception {
        SourceLink link = mock(SourceLink.class);
        DeviceCopy devices = new DeviceCopy(List.of(Device.whole("rtc", (byte) 1, (byte) 2, (byte) 3)), link);
        devices.prepare();
        List<SwitchoverFrames.DeviceStateFrame> saved = devices.save();
        assertFalse(devices.framesPrepared(), "no DEVICE_DATA frame is ever written for such a VM");
        assertEquals(1, saved.size());
        assertEquals("rtc", saved.getFirst().id());
        assertArrayEquals(new byte[] {1, 2, 3}, saved.getFirst().data());
        verifyNoInteractions(link);
    }

    @Test
    void aDeviceThatStreamsItsStateGetsItsFrameBuffersBeforeTheLiveCopy() {
        SourceLink link = mock(SourceLink.class);
        when(link.frameLimitBytes()).thenReturn(Wire.MIN_MAX_FRAME_BYTES);
        Device streaming = new Device("nic", new byte[0], Optional.of(mock(DeviceMigration.class)));
        DeviceCopy devices = new DeviceCopy(List.of(Device.whole("rtc", (byte) 0), streaming), link);
        devices.prepare();
        assertTrue(devices.framesPrepared());
    }
}
