package io.livemig.api;

import java.time.Duration;
import java.util.Objects;

/**
 * Caps on what a source may make a destination allocate or wait for. Every peer-driven
 * allocation is checked against them before it is made, so that a hostile or broken source gets
 * a clear {@link ProtocolException} instead of making the receiver run out of memory. The
 * defaults fit any VM livemig can migrate today; raise them for larger ones.
 *
 * @param maxMemoryBytes   largest guest RAM accepted in SETUP, holes excluded
 * @param maxPageSpan      largest page span (last page + 1) of an announced layout: bounds the
 *                         receiver's per-page bookkeeping for sparse layouts
 * @param maxRegions       most memory regions in a layout
 * @param maxVcpus         most vCPUs
 * @param maxDevices       most devices
 * @param maxStateBytes    most vCPU and device state buffered in stop-copy, all together
 * @param handshakeTimeout longest a connection may take from accept to a complete, authenticated
 *                         handshake; a slow or idle peer is dropped after it
 * @param maxStreams       most data connections a source may open beside its first channel
 *                         ({@link MigrationOptions#streams()}); 0 takes none. Each connection, as
 *                         the first channel, receives into a buffer of the frame limit (16 MiB of
 *                         direct memory by default); a JVM keeps up to five of them after a
 *                         migration, for the next one it receives
 * @param maxDiskBlocks    most disk blocks announced in SETUP, over all disks: bounds the
 *                         receiver's per-block bookkeeping (8 bytes a block to verify)
 */
public record ReceiveLimits(long maxMemoryBytes, long maxPageSpan, int maxRegions, int maxVcpus, int maxDevices,
                            long maxStateBytes, Duration handshakeTimeout, int maxStreams, long maxDiskBlocks) {

    /** Default {@link #maxStreams()}: {@value MigrationOptions#MAX_STREAMS}. */
    public static final int DEFAULT_MAX_STREAMS = MigrationOptions.MAX_STREAMS;

    /** Default {@link #maxDiskBlocks()}: 2^28, 1 TiB of 4 KiB blocks. */
    public static final long DEFAULT_MAX_DISK_BLOCKS = 1L << 28;

    /**
     * 4 TiB of RAM, a span of 2^32 pages, 1024 regions, 1024 vCPUs, 256 devices, 256 MiB of state, 10 s,
     * 16 data connections, 2^28 disk blocks.
     */
    public static final ReceiveLimits DEFAULTS = new ReceiveLimits(4L << 40, 1L << 32, 1024, 1024, 256, 256L << 20,
            Duration.ofSeconds(10));

    /**
     * Checks every limit.
     *
     * @throws IllegalArgumentException for a value that is not positive (devices, streams and disk
     *                                  blocks: negative)
     */
    public ReceiveLimits {
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        if (maxMemoryBytes <= 0 || maxPageSpan <= 0 || maxRegions <= 0 || maxVcpus <= 0 || maxDevices < 0
                || maxStateBytes <= 0 || handshakeTimeout.isNegative() || handshakeTimeout.isZero() || maxStreams < 0
                || maxDiskBlocks < 0) {
            throw new IllegalArgumentException("receive limits must be positive: " + this);
        }
    }

    /**
     * The limits above with the default {@link #maxStreams()} ({@value #DEFAULT_MAX_STREAMS}) and
     * {@link #maxDiskBlocks()}.
     *
     * @param maxMemoryBytes   largest guest RAM accepted in SETUP, holes excluded
     * @param maxPageSpan      largest page span (last page + 1) of an announced layout
     * @param maxRegions       most memory regions in a layout
     * @param maxVcpus         most vCPUs
     * @param maxDevices       most devices
     * @param maxStateBytes    most vCPU and device state buffered in stop-copy, all together
     * @param handshakeTimeout longest a connection may take from accept to a complete handshake
     * @throws IllegalArgumentException for a value that is not positive (devices: negative)
     */
    public ReceiveLimits(long maxMemoryBytes, long maxPageSpan, int maxRegions, int maxVcpus, int maxDevices,
                         long maxStateBytes, Duration handshakeTimeout) {
        this(maxMemoryBytes, maxPageSpan, maxRegions, maxVcpus, maxDevices, maxStateBytes, handshakeTimeout,
                DEFAULT_MAX_STREAMS);
    }

    /**
     * The limits above with the default {@link #maxDiskBlocks()}.
     *
     * @param maxMemoryBytes   largest guest RAM accepted in SETUP, holes excluded
     * @param maxPageSpan      largest page span (last page + 1) of an announced layout
     * @param maxRegions       most memory regions in a layout
     * @param maxVcpus         most vCPUs
     * @param maxDevices       most devices
     * @param maxStateBytes    most vCPU and device state buffered in stop-copy, all together
     * @param handshakeTimeout longest a connection may take from accept to a complete handshake
     * @param maxStreams       most data connections a source may open beside its first channel
     * @throws IllegalArgumentException for a value that is not positive (devices and streams: negative)
     */
    public ReceiveLimits(long maxMemoryBytes, long maxPageSpan, int maxRegions, int maxVcpus, int maxDevices,
                         long maxStateBytes, Duration handshakeTimeout, int maxStreams) {
        this(maxMemoryBytes, maxPageSpan, maxRegions, maxVcpus, maxDevices, maxStateBytes, handshakeTimeout,
                maxStreams, DEFAULT_MAX_DISK_BLOCKS);
    }

    /**
     * Copies these limits with another largest guest RAM.
     *
     * @param bytes largest guest RAM accepted in SETUP, in bytes, holes excluded
     * @return these limits with {@code bytes} as the largest guest RAM
     * @throws IllegalArgumentException if {@code bytes} is not positive
     */
    public ReceiveLimits withMaxMemoryBytes(long bytes) {
        return new ReceiveLimits(bytes, maxPageSpan, maxRegions, maxVcpus, maxDevices, maxStateBytes,
                handshakeTimeout, maxStreams, maxDiskBlocks);
    }

    /**
     * Copies these limits with another largest page span.
     *
     * @param pages largest page span (last page + 1) of an announced layout, in pages
     * @return these limits with {@code pages} as the largest page span
     * @throws IllegalArgumentException if {@code pages} is not positive
     */
    public ReceiveLimits withMaxPageSpan(long pages) {
        return new ReceiveLimits(maxMemoryBytes, pages, maxRegions, maxVcpus, maxDevices, maxStateBytes,
                handshakeTimeout, maxStreams, maxDiskBlocks);
    }

    /**
     * Copies these limits with another cap on the state buffered in stop-copy.
     *
     * @param bytes most vCPU and device state buffered in stop-copy, in bytes, all together
     * @return these limits with {@code bytes} as the most state buffered
     * @throws IllegalArgumentException if {@code bytes} is not positive
     */
    public ReceiveLimits withMaxStateBytes(long bytes) {
        return new ReceiveLimits(maxMemoryBytes, maxPageSpan, maxRegions, maxVcpus, maxDevices, bytes,
                handshakeTimeout, maxStreams, maxDiskBlocks);
    }

    /**
     * Copies these limits with another handshake deadline.
     *
     * @param timeout longest a connection may take from accept to a complete, authenticated handshake
     * @return these limits with {@code timeout} as the handshake deadline
     * @throws IllegalArgumentException if {@code timeout} is zero or negative
     */
    public ReceiveLimits withHandshakeTimeout(Duration timeout) {
        return new ReceiveLimits(maxMemoryBytes, maxPageSpan, maxRegions, maxVcpus, maxDevices, maxStateBytes,
                timeout, maxStreams, maxDiskBlocks);
    }

    /**
     * Copies these limits with another cap on data connections.
     *
     * @param streams most data connections a source may open beside its first channel; 0 takes none
     * @return these limits with {@code streams} as the most data connections a source may open
     * @throws IllegalArgumentException if {@code streams} is negative
     */
    public ReceiveLimits withMaxStreams(int streams) {
        return new ReceiveLimits(maxMemoryBytes, maxPageSpan, maxRegions, maxVcpus, maxDevices, maxStateBytes,
                handshakeTimeout, streams, maxDiskBlocks);
    }

    /**
     * Copies these limits with another cap on announced disk blocks.
     *
     * @param blocks most disk blocks announced in SETUP, over all disks
     * @return these limits with {@code blocks} as the most disk blocks, over all disks
     * @throws IllegalArgumentException if {@code blocks} is negative
     */
    public ReceiveLimits withMaxDiskBlocks(long blocks) {
        return new ReceiveLimits(maxMemoryBytes, maxPageSpan, maxRegions, maxVcpus, maxDevices, maxStateBytes,
                handshakeTimeout, maxStreams, blocks);
    }
}
