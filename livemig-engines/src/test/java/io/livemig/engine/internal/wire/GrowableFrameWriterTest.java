package io.livemig.engine.internal.wire;

import io.livemig.spi.VcpuState;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A growable frame writer writes small and large frames alike, and refuses what exceeds its limit. */
class GrowableFrameWriterTest {

    private static final int LIMIT = 16 << 20;

    private static VcpuState state(int bytes) {
        byte[] data = new byte[bytes];
        Arrays.fill(data, (byte) 0x5A);
        data[bytes - 1] = 7;
        return new VcpuState(0, "f", data);
    }

    private static byte[] readBack(ByteBuffer frame) throws WireException {
        Frame f = Frame.open(frame.duplicate(), new CRC32C());
        return SwitchoverFrames.VcpuStateFrame.read(f, 1).state().data();
    }

    @Test
    void aFrameLargerThanItsFirstBufferIsWrittenWholeAndTheNextSmallOneToo() throws Exception {
        FrameWriter writer = FrameWriter.growable(LIMIT);
        assertEquals(LIMIT, writer.capacity(), "the capacity is the frame limit, whatever the buffer holds");
        VcpuState big = state(FrameWriter.INITIAL_BYTES * 3);
        assertArrayEquals(big.data(), readBack(writer.write(new SwitchoverFrames.VcpuStateFrame(big))));
        VcpuState small = state(64);
        assertArrayEquals(small.data(), readBack(writer.write(new SwitchoverFrames.VcpuStateFrame(small))));
    }

    @Test
    void aFrameBeyondTheLimitIsRefused() {
        FrameWriter writer = FrameWriter.growable(FrameWriter.INITIAL_BYTES * 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> writer.write(new SwitchoverFrames.VcpuStateFrame(state(FrameWriter.INITIAL_BYTES * 2))));
        assertEquals(true, e.getMessage().contains("does not fit"), e.getMessage());
    }
}
