package io.livemig.xen;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;
import io.livemig.xen.internal.XenAbi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.BooleanSupplier;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Xen's log-dirty mode as a {@link DirtyTracker}, as Xen's own save code drives it:
 * {@link #start()} is {@code xc_shadow_control(XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY)};
 * {@link #collect()} is one {@code xc_logdirty_control(XEN_DOMCTL_SHADOW_OP_CLEAN)}, which copies
 * the bitmap into a hypercall buffer and clears Xen's copy in the same operation (so a write
 * after it lands in the next collect, never in neither); {@link #stop()} is
 * {@code xc_shadow_control(XEN_DOMCTL_SHADOW_OP_OFF)}. While the domain is paused (the last
 * round), the collect passes {@code XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL}, which makes Xen also
 * report pages it holds mapped writable itself.
 *
 * <p>The bitmap is one bit per frame, frame {@code i} at bit {@code i % 64} of 64-bit word
 * {@code i / 64}, the layout of a {@link PageSet}. Bits for frames in holes are dropped. Pages
 * an engine {@link #redirty gives back} are ORed into the next collect.
 *
 * <p>Thread-safe (one engine thread at a time, per the SPI). Owns the hypercall buffer, freed
 * by {@link #close()}.
 */
final class XenDirtyTracker implements DirtyTracker, AutoCloseable {

    private final XenHost host;
    private final int domid;
    private final MemoryLayout layout;
    private final BooleanSupplier paused;
    private final long[] ramMask;
    private final int bitmapPages;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment hypercallBuffer;
    private final MemorySegment stats;
    private MemorySegment bitmap;
    private PageSet pending;
    private boolean tracking;
    private boolean closed;

    /** @param paused whether the domain is paused now (for the final-round flag) */
    XenDirtyTracker(XenHost host, int domid, MemoryLayout layout, BooleanSupplier paused) {
        this.host = host;
        this.domid = domid;
        this.layout = layout;
        this.paused = paused;
        long span = layout.pageSpan();
        this.ramMask = new long[(int) ((span + 63) / 64)];
        for (MemoryRegion r : layout.regions()) {
            for (long p = r.firstPage(); p < r.endPage(); p++) {
                ramMask[(int) (p >>> 6)] |= 1L << p;
            }
        }
        long bitmapBytes = (long) ramMask.length * Long.BYTES;
        this.bitmapPages = (int) ((bitmapBytes + XenAbi.PAGE_BYTES - 1) / XenAbi.PAGE_BYTES);
        // DECLARE_HYPERCALL_BUFFER: no buffer yet, no shadow, no bounce (ubuf = (void *) -1).
        this.hypercallBuffer = arena.allocate(XenAbi.HYPERCALL_BUFFER_BYTES, 8);
        hypercallBuffer.set(ADDRESS, XenAbi.HYPERCALL_BUFFER_HBUF, MemorySegment.NULL);
        hypercallBuffer.set(ADDRESS, XenAbi.HYPERCALL_BUFFER_PARAM_SHADOW, MemorySegment.NULL);
        hypercallBuffer.set(JAVA_INT, XenAbi.HYPERCALL_BUFFER_DIR, 0);
        hypercallBuffer.set(JAVA_LONG, XenAbi.HYPERCALL_BUFFER_UBUF, -1L);
        hypercallBuffer.set(JAVA_LONG, XenAbi.HYPERCALL_BUFFER_SZ, 0L);
        this.stats = arena.allocate(XenAbi.SHADOW_OP_STATS_BYTES, 8);
        this.pending = new PageSet(span);
    }

    @Override
    public synchronized void start() {
        checkOpen();
        try {
            if (bitmap == null) {
                bitmap = host.ctrl().hypercallBufferAllocPages(host.xch(), hypercallBuffer, bitmapPages);
            }
            if (host.ctrl().shadowControl(host.xch(), domid, XenAbi.SHADOW_OP_ENABLE_LOGDIRTY, true) < 0) {
                // Already in log-dirty mode (a restart, or another tool left it on): off, then on again.
                host.ctrl().shadowControl(host.xch(), domid, XenAbi.SHADOW_OP_OFF, false);
                host.ctrl().shadowControl(host.xch(), domid, XenAbi.SHADOW_OP_ENABLE_LOGDIRTY, false);
            }
        } catch (XenException e) {
            throw new TrackingException("enabling Xen's log-dirty mode failed: " + e.getMessage(), e);
        }
        pending = new PageSet(layout.pageSpan());
        tracking = true;
    }

    @Override
    public synchronized PageSet collect() {
        requireTracking();
        long span = layout.pageSpan();
        try {
            bitmap.fill((byte) 0);
            host.ctrl().logdirtyControl(host.xch(), domid, XenAbi.SHADOW_OP_CLEAN, hypercallBuffer, span,
                    paused.getAsBoolean() ? XenAbi.SHADOW_LOGDIRTY_FINAL : 0, stats);
        } catch (XenException e) {
            throw new TrackingException("reading Xen's log-dirty bitmap failed: " + e.getMessage(), e);
        }
        PageSet dirty = pending;
        pending = new PageSet(span);
        for (int i = 0; i < ramMask.length; i++) {
            long w = bitmap.getAtIndex(JAVA_LONG, i) & ramMask[i];
            if (w != 0) {
                dirty.orWord(i, w);
            }
        }
        return dirty;
    }

    @Override
    public synchronized void redirty(PageSet pages) {
        requireTracking();
        pending.addAll(pages);
    }

    @Override
    public synchronized void stop() {
        if (tracking) {
            tracking = false;
            try {
                host.ctrl().shadowControl(host.xch(), domid, XenAbi.SHADOW_OP_OFF, false);
            } catch (XenException e) {
                throw new TrackingException("leaving Xen's log-dirty mode failed: " + e.getMessage(), e);
            }
        }
    }

    private void requireTracking() {
        if (!tracking) {
            throw new IllegalStateException("dirty tracking is not started");
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the domain handle is closed");
        }
    }

    /** Leaves log-dirty mode if still in it (best effort) and frees the hypercall buffer. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        RuntimeException failure = null;
        try {
            stop();
        } catch (RuntimeException e) {
            failure = e;
        }
        closed = true;
        if (bitmap != null) {
            host.ctrl().hypercallBufferFreePages(host.xch(), hypercallBuffer, bitmapPages);
            bitmap = null;
        }
        arena.close();
        if (failure != null) {
            throw failure;
        }
    }
}
