package io.livemig.engine.internal.wire;

/** Constants of the wire protocol, as docs/protocol.md specifies them. */
public final class Wire {
    private Wire() {
    }

    /** "LVMG", the first field of HELLO and HELLO_ACK. */
    public static final int MAGIC = 0x4C564D47;
    /**
     * The protocol version this build speaks, and the only one: version 2 added the handshake's
     * authentication (nonces, proofs of the migration secret, the session id) and SETTLED;
     * version 3 gave RESUMED the destination's resume instant and host token (the blackout);
     * version 4 added disks (SETUP's disk list and the DISK_* frames); version 5 added DEVICE_DATA,
     * the data streams of devices that migrate as VFIO's migration v2 defines; version 6 added trace
     * and replay (strategy 5, CHECKPOINT, LOG_SEGMENT, REPLAYED).
     */
    public static final int VERSION = 6;
    /** Frame header: type u8, flags u8, reserved u16. */
    public static final int HEADER_BYTES = 4;
    /** Frame trailer: CRC32C u32 over header and payload. */
    public static final int TRAILER_BYTES = 4;
    /** The smallest legal frame. */
    public static final int MIN_FRAME_BYTES = HEADER_BYTES + TRAILER_BYTES;
    /** The default and largest frame size this build proposes, in bytes. */
    public static final int DEFAULT_MAX_FRAME_BYTES = 16 << 20;
    /** The smallest frame limit a peer may propose, in bytes. */
    public static final int MIN_MAX_FRAME_BYTES = 64 << 10;
    /** One entry of a PAGES frame: page u64, encoding u8, payload length u32. */
    public static final int PAGE_ENTRY_BYTES = 13;
    /** PAGES header after the frame header: round u32, entry count u32. */
    public static final int PAGES_HEADER_BYTES = 8;
    /** Most regions a layout may announce. */
    public static final int MAX_REGIONS = 1024;
    /** Most devices a VM may announce. */
    public static final int MAX_DEVICES = 1024;
    /** Most vCPUs a VM may announce. */
    public static final int MAX_VCPUS = 4096;
    /** Largest page span accepted: 2^37 pages. */
    public static final long MAX_PAGE_SPAN = 1L << 37;
    /** Most entries a source may announce per PAGES frame in SETUP. */
    public static final int MAX_BATCH_PAGES = 1 << 20;
    /** Longest string field (UTF-8 bytes). */
    public static final int MAX_STRING_BYTES = 255;
    /** Largest guest memory accepted, in bytes: 2^46 (64 TiB). */
    public static final long MAX_MEMORY_BYTES = 1L << 46;
    /** SETUP flag: the source will send digests after the switchover. */
    public static final int SETUP_FLAG_VERIFY = 1;
    /** SETUP flag: the migration may switch to post-copy, so the target must support demand paging. */
    public static final int SETUP_FLAG_POSTCOPY = 2;
    /** COMMIT flag: resume now; the pages announced in MISSING_PAGES follow (post-copy). */
    public static final int COMMIT_FLAG_POSTCOPY = 1;
    /** Most page numbers in one PAGE_REQUEST. */
    public static final int MAX_REQUEST_PAGES = 4096;
    /** Most bitmap words in one MISSING_PAGES or RECOVER_MISSING frame (64 Ki words = 4 Mi pages). */
    public static final int MAX_BITMAP_WORDS = 1 << 16;
}
