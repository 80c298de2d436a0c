package io.livemig.engine.internal.wire;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Loads and runs once, outside any downtime, the code that writes and reads the switchover's
 * frames. The first use of a class in a JVM costs its loading and linking, a fraction of a
 * millisecond each; the switchover's frames are first used with the VM paused, where those
 * milliseconds are downtime. Both sides call {@link #run()} while they set up.
 *
 * <p>Thread-safe; the work is done once per JVM.
 */
public final class FrameWarmup {

    private static volatile boolean done;

    private FrameWarmup() {
    }

    /** Writes and reads back one frame of each type the switchover uses (at most once per JVM). */
    public static void run() {
        if (done) {
            return;
        }
        synchronized (FrameWarmup.class) {
            if (done) {
                return;
            }
            MemoryLayout layout = new MemoryLayout(4096, List.of(new MemoryRegion(0, 64)));
            PageSet missing = new PageSet(layout.pageSpan());
            missing.add(1);
            List<Message> messages = List.of(new SwitchoverFrames.Switchover(),
                    new SwitchoverFrames.VcpuStateFrame(new VcpuState(0, "warm-up", new byte[8])),
                    new SwitchoverFrames.DeviceStateFrame("warm-up", new byte[8]),
                    new SwitchoverFrames.Commit(1, 1, false), new SwitchoverFrames.Resumed(0, new byte[SwitchoverFrames.Resumed.HOST_TOKEN_BYTES]),
                    PageBitmap.chunks(FrameType.MISSING_PAGES, missing, Wire.MIN_MAX_FRAME_BYTES).getFirst());
            FrameWriter writer = new FrameWriter(Wire.MIN_MAX_FRAME_BYTES);
            CRC32C crc = new CRC32C();
            Message.Context context = new Message.Context(layout, 1);
            for (Message message : messages) {
                ByteBuffer frame = writer.write(message);
                try {
                    Message.read(Frame.open(frame, crc), context);
                } catch (WireException e) {
                    throw new IllegalStateException("a warm-up frame did not read back: " + message, e);
                }
            }
            done = true;
        }
    }
}
