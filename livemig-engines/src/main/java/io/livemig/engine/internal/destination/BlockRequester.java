package io.livemig.engine.internal.destination;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.engine.internal.wire.DiskFrames;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Asks the source for the disk blocks the destination's guest waits for (post-copy): the disks'
 * demand listeners queue them (never blocking), and one thread sends them as BLOCK_REQUEST frames,
 * a frame per disk with every block queued meanwhile. A request lost to a broken link is not asked
 * again: after a recovery the source pushes every announced block anew.
 */
final class BlockRequester implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BlockRequester.class);
    private static final long[] STOP = new long[0];

    private final DestinationLink link;
    private final LinkedBlockingQueue<long[]> queue = new LinkedBlockingQueue<>();
    private final Thread thread;

    BlockRequester(DestinationLink link) {
        this.link = link;
        this.thread = EngineThreads.unstarted("livemig-block-requests", this::run);
        thread.start();
    }

    /** Queues a request for {@code block} of disk {@code disk}. Any thread; never blocks. */
    void request(int disk, long block) {
        queue.add(new long[] {disk, block});
    }

    private void run() {
        List<long[]> batch = new ArrayList<>();
        try {
            while (true) {
                long[] first = queue.take();
                if (first == STOP) {
                    return;
                }
                batch.add(first);
                queue.drainTo(batch);
                boolean stop = batch.remove(STOP);
                send(batch);
                batch.clear();
                if (stop) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | io.livemig.api.MigrationException e) {
            LOG.debug("block requests stopped: {}", e.getMessage());
        }
    }

    private void send(List<long[]> batch) throws io.livemig.api.MigrationException {
        // One frame per disk, in the order the disks were asked for first.
        while (!batch.isEmpty()) {
            int disk = (int) batch.get(0)[0];
            List<Long> blocks = new ArrayList<>();
            batch.removeIf(r -> {
                if (r[0] == disk && blocks.size() < DiskFrames.MAX_REQUEST_BLOCKS) {
                    blocks.add(r[1]);
                    return true;
                }
                return false;
            });
            link.send(new DiskFrames.BlockRequest(disk, blocks.stream().mapToLong(Long::longValue).toArray()));
        }
    }

    /** Stops the sending thread. Idempotent. */
    @Override
    public void close() {
        queue.add(STOP);
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
