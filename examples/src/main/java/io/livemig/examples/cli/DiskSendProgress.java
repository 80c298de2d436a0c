package io.livemig.examples.cli;

import io.livemig.channel.Channel;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code disk send}'s progress: a disk sync has no progress events, so this counts the bytes the
 * sync sends on its channel and, every {@link ProgressOptions#INTERVAL}, shows them on a
 * {@link LiveProgress} and keeps them as a sample for {@code --plot}.
 *
 * <p>Start with {@link #watch}, use the channel it returns for the sync, call {@link #completed}
 * if it completed, then {@link #close}
 * (which stops the sampling thread and ends the bar). The channel may be used from any one
 * thread at a time, as a channel is; the samples are read after {@link #close}.
 */
final class DiskSendProgress implements AutoCloseable {

    private final LiveProgress display;
    private final long sizeBytes;
    private final AtomicLong sent = new AtomicLong();
    private final long startNanos = System.nanoTime();
    private final List<TimelinePlot.DiskSample> samples = new ArrayList<>();
    private final Thread sampler;

    private DiskSendProgress(LiveProgress display, long sizeBytes) {
        this.display = display;
        this.sizeBytes = sizeBytes;
        this.sampler = Thread.ofPlatform().daemon().name("livemig-disk-progress").start(this::sample);
    }

    /**
     * @param display   where progress is shown (may show nothing)
     * @param sizeBytes the image's size: the bar's end
     * @return a watcher, sampling from now on; the caller closes it
     */
    static DiskSendProgress watch(LiveProgress display, long sizeBytes) {
        return new DiskSendProgress(display, sizeBytes);
    }

    /**
     * @param channel the sync's channel
     * @return the same channel, counting the bytes sent through it; closing it closes {@code channel}
     */
    Channel counting(Channel channel) {
        return new Channel() {
            @Override
            public void send(ByteBuffer message) throws IOException {
                int bytes = message.remaining();
                channel.send(message);
                sent.addAndGet(bytes);
            }

            @Override
            public int receive(ByteBuffer destination) throws IOException {
                return channel.receive(destination);
            }

            @Override
            public int maxMessageBytes() {
                return channel.maxMessageBytes();
            }

            @Override
            public String peer() {
                return channel.peer();
            }

            @Override
            public void close() {
                channel.close();
            }
        };
    }

    private void sample() {
        long previousBytes = 0;
        long previousNanos = startNanos;
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(ProgressOptions.INTERVAL);
                long now = System.nanoTime();
                long bytes = sent.get();
                long rate = (long) ((bytes - previousBytes) * 1e9 / Math.max(1, now - previousNanos));
                Duration elapsed = Duration.ofNanos(now - startNanos);
                synchronized (samples) {
                    samples.add(new TimelinePlot.DiskSample(elapsed, bytes));
                }
                display.showBytes("disk", bytes, sizeBytes, elapsed, rate);
                previousBytes = bytes;
                previousNanos = now;
            }
        } catch (InterruptedException e) {
            // close(): stop sampling
        }
    }

    /** {@return the samples taken, oldest first} */
    List<TimelinePlot.DiskSample> samples() {
        synchronized (samples) {
            return List.copyOf(samples);
        }
    }

    /**
     * The sync completed: stops sampling and shows its end, every byte it sent being all it had
     * to send (fewer than the image's size when blocks were zero or unchanged).
     */
    void completed() {
        stopSampling();
        Duration elapsed = Duration.ofNanos(System.nanoTime() - startNanos);
        long bytes = sent.get();
        display.showBytes("disk", bytes, bytes, elapsed, (long) (bytes * 1e9 / Math.max(1, elapsed.toNanos())));
    }

    private void stopSampling() {
        sampler.interrupt();
        try {
            sampler.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops sampling and ends the bar. Idempotent. */
    @Override
    public void close() {
        stopSampling();
        display.close();
    }
}
