package io.livemig.engine.internal.wire;

import io.livemig.compress.PageEncoding;

import java.nio.ByteBuffer;

/**
 * Builds one PAGES frame in place (docs/protocol.md, 2.2): {@code round:u32 count:u32} then
 * entries of {@code page:u64 encoding:u8 length:u32 payload[length]}. An entry is opened as a raw
 * page, the caller reads the page straight into the frame at {@link #openEntry}'s offset and lets
 * a codec replace it, then {@link #commitEntry commits} it with its real encoding and length, or
 * {@link #dropEntry drops} it. No page is copied on the way.
 *
 * <p>Owns its {@link FrameWriter}. Not thread-safe: one thread builds a frame; the finished
 * frame may be sent from another thread while this writer is not reused.
 */
public final class PageBatchWriter {

    private final FrameWriter writer;
    private ByteBuffer batch;
    private ByteBuffer finished;
    private int countAt;
    private int entryAt = -1;
    private int dataAt;
    private int entries;

    /** @param maxFrameBytes the agreed frame limit */
    public PageBatchWriter(int maxFrameBytes) {
        this.writer = new FrameWriter(maxFrameBytes);
    }

    /** @return whether a frame is open */
    public boolean isOpen() {
        return batch != null;
    }

    /** Opens a frame for pages of {@code round}. */
    public void begin(int round) {
        finished = null;
        batch = writer.begin(FrameType.PAGES);
        batch.putInt(round);
        countAt = batch.position();
        batch.putInt(0);
        entries = 0;
        entryAt = -1;
    }

    /**
     * Opens an entry for {@code page} as a raw page of {@code pageSize} bytes.
     *
     * @return the frame buffer, positioned at the entry's payload (read the page there)
     */
    public ByteBuffer openEntry(long page, int pageSize) {
        entryAt = batch.position();
        batch.putLong(page).put((byte) PageEncoding.RAW.wireId()).putInt(pageSize);
        dataAt = batch.position();
        return batch;
    }

    /** @return the offset of the open entry's payload in the frame buffer */
    public int payloadOffset() {
        return dataAt;
    }

    /**
     * @return a native-order view of the frame's memory, for word-wise scans and codecs working
     *         on the open entry's payload (absolute access only)
     */
    public ByteBuffer nativeView() {
        return writer.nativeView();
    }

    /** Ends the open entry: its payload is the {@code length} bytes at {@link #payloadOffset()}, in {@code encoding}. */
    public void commitEntry(PageEncoding encoding, int length) {
        batch.put(entryAt + 8, (byte) encoding.wireId()).putInt(entryAt + 9, length);
        batch.position(dataAt + length);
        entries++;
        entryAt = -1;
    }

    /** Forgets the open entry, as if it had never been opened. */
    public void dropEntry() {
        batch.position(entryAt);
        entryAt = -1;
    }

    /** @return the entries committed in the open frame */
    public int entries() {
        return entries;
    }

    /** @return whether one more entry with a payload of up to {@code payloadBytes} fits */
    public boolean fits(int payloadBytes) {
        return writer.payloadRoom() >= Wire.PAGE_ENTRY_BYTES + payloadBytes;
    }

    /**
     * Closes the frame: writes its entry count and CRC.
     *
     * @return the finished frame, flipped
     */
    public ByteBuffer finish() {
        batch.putInt(countAt, entries);
        batch = null;
        finished = writer.finish();
        return finished;
    }

    /** @return the frame {@link #finish()} built, until the next {@link #begin} */
    public ByteBuffer frame() {
        if (finished == null) {
            throw new IllegalStateException("no finished frame");
        }
        return finished;
    }

    /** Drops the open frame unsent. */
    public void discard() {
        batch = null;
        entryAt = -1;
    }
}
