package io.livemig.engine.internal.wire;

import io.livemig.api.Strategy;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

/**
 * Loads and runs once, outside any downtime and off the set-up path where it can, the code that
 * writes and reads the switchover's frames and SETUP, and the record comparisons and type
 * switches that checking SETUP and dispatching frames use. The first use of a class in a JVM
 * costs its loading and linking, a fraction of a millisecond each; the first comparison of a
 * record class and the first pattern switch bootstrap their call sites, tens of milliseconds in a
 * cold JVM. The switchover's frames are first used with the VM paused, where those milliseconds
 * are downtime; SETUP and its checks are first used between SETUP and READY, where they are the
 * migration's time. Both sides call {@link #run()} while they set up; a destination starts
 * {@link #runInBackground()} as soon as it waits for a source, so that the work is done by the
 * time one arrives.
 *
 * <p>Thread-safe; the work is done once per JVM.
 */
public final class FrameWarmup {

    private static volatile boolean done;
    private static final AtomicBoolean STARTED = new AtomicBoolean();

    private FrameWarmup() {
    }

    /**
     * Starts {@link #run()} on a daemon thread of its own, unless it ran or started already.
     * Returns at once; a later {@link #run()} waits for it to finish.
     */
    public static void runInBackground() {
        if (done || !STARTED.compareAndSet(false, true)) {
            return;
        }
        Thread.ofPlatform().daemon().name("livemig-warmup").start(FrameWarmup::run);
    }

    /**
     * Writes and reads back one frame of each type the switchover uses, and a SETUP, and compares
     * what was read with what was written (at most once per JVM; waits for a run in progress).
     */
    public static void run() {
        if (done) {
            return;
        }
        synchronized (FrameWarmup.class) {
            if (done) {
                return;
            }
            STARTED.set(true);
            MemoryLayout layout = new MemoryLayout(4096, List.of(new MemoryRegion(0, 64)));
            PageSet missing = new PageSet(layout.pageSpan());
            missing.add(1);
            VmDescriptor descriptor = new VmDescriptor(layout, 1, List.of("warm-up"), "warm-up");
            List<Message> messages = List.of(
                    new HandshakeFrames.Setup(Strategy.PRECOPY, true, false, descriptor, 1),
                    new SwitchoverFrames.Switchover(),
                    new SwitchoverFrames.VcpuStateFrame(new VcpuState(0, "warm-up", new byte[8])),
                    new SwitchoverFrames.DeviceStateFrame("warm-up", new byte[8]),
                    new SwitchoverFrames.Commit(1, 1, false),
                    new SwitchoverFrames.Resumed(0, new byte[SwitchoverFrames.Resumed.HOST_TOKEN_BYTES]),
                    PageBitmap.chunks(FrameType.MISSING_PAGES, missing, Wire.MIN_MAX_FRAME_BYTES).getFirst());
            FrameWriter writer = new FrameWriter(Wire.MIN_MAX_FRAME_BYTES);
            CRC32C crc = new CRC32C();
            Message.Context context = new Message.Context(layout, 1);
            for (Message message : messages) {
                ByteBuffer frame = writer.write(message);
                Message read;
                try {
                    read = Message.read(Frame.open(frame, crc), message instanceof HandshakeFrames.Setup
                            ? Message.Context.BEFORE_SETUP : context);
                } catch (WireException e) {
                    throw new IllegalStateException("a warm-up frame did not read back: " + message, e);
                }
                if (!matches(message, read)) {
                    throw new IllegalStateException("a warm-up frame read back differently: " + message);
                }
            }
            done = true;
        }
    }

    /** Compares as the receivers do: a pattern switch over the frame, records compared with equals. */
    private static boolean matches(Message written, Message read) {
        return switch (read) {
            case HandshakeFrames.Setup setup -> setup.equals(written) && setup.hashCode() == written.hashCode();
            case SwitchoverFrames.Commit commit -> commit.equals(written);
            default -> read.type() == written.type();
        };
    }
}
