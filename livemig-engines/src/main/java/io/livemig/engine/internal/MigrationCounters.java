package io.livemig.engine.internal;

import io.livemig.api.MigrationReport;
import io.livemig.compress.PageEncoding;

import java.util.Map;
import java.util.TreeMap;

/**
 * The migration's counters, in one place and with one meaning on both sides (after QEMU's
 * {@code migration/migration-stats.h}). On the source they count what was sent, on the
 * destination what was received and applied:
 * <ul>
 *   <li>{@link #wireBytes()}: forward-stream frame bytes, headers and trailers included; the source
 *       counts each frame when the channel took it, the destination each frame it received
 *       (including frames it then rejected).</li>
 *   <li>{@link #page pages and their payload bytes}, per page encoding (indexed by
 *       {@link PageEncoding#wireId()}): page entries and their payload bytes; the source counts an
 *       entry when it is committed to a frame, the destination when it applies it.</li>
 *   <li>{@link #unchangedPage unchanged pages}: source only, dirtied pages found unchanged since they
 *       were last sent (by the XBZRLE cache, or by their hash) and therefore not sent.</li>
 *   <li>{@link #highestRound()}: the highest round number put on (or seen in) a PAGES frame, -1
 *       before the first.</li>
 * </ul>
 *
 * <p>Not thread-safe: every thread that counts owns an instance (each encoder thread its own);
 * the report adds them up with {@link #add}.
 */
public final class MigrationCounters {

    private long wireBytes;
    private final long[] pages = new long[256];
    private final long[] payloadBytes = new long[256];
    private long unchangedPages;
    private int highestRound = -1;

    /** Counts a forward frame of {@code bytes} bytes. */
    public void frame(long bytes) {
        wireBytes += bytes;
    }

    /** Counts one page entry of {@code encoding} with a payload of {@code length} bytes. */
    public void page(PageEncoding encoding, int length) {
        pages[encoding.wireId()]++;
        payloadBytes[encoding.wireId()] += length;
    }

    /** Counts a dirtied page found unchanged (not sent). */
    public void unchangedPage() {
        unchangedPages++;
    }

    /** Notes a page entry of round {@code round}. */
    public void round(int round) {
        if (round > highestRound) {
            highestRound = round;
        }
    }

    /** @return forward-stream frame bytes, headers included */
    public long wireBytes() {
        return wireBytes;
    }

    /** @return the highest round number of a page entry, -1 before the first */
    public int highestRound() {
        return highestRound;
    }

    /** Adds {@code other}'s counts to these. */
    public void add(MigrationCounters other) {
        wireBytes += other.wireBytes;
        for (int i = 0; i < pages.length; i++) {
            pages[i] += other.pages[i];
            payloadBytes[i] += other.payloadBytes[i];
        }
        unchangedPages += other.unchangedPages;
        highestRound = Math.max(highestRound, other.highestRound);
    }

    /**
     * @param pageSize the page size in bytes
     * @return the report's encodings part: pages and payload bytes by encoding name, unchanged
     *         pages, and the page bytes saved (pages times the page size, minus their payloads)
     */
    public MigrationReport.Encodings encodings(int pageSize) {
        Map<String, Long> byEncoding = new TreeMap<>();
        Map<String, Long> bytes = new TreeMap<>();
        long saved = 0;
        for (PageEncoding e : PageEncoding.values()) {
            long n = pages[e.wireId()];
            if (n > 0) {
                byEncoding.put(e.reportName(), n);
                bytes.put(e.reportName(), payloadBytes[e.wireId()]);
                saved += n * pageSize - payloadBytes[e.wireId()];
            }
        }
        return new MigrationReport.Encodings(byEncoding, bytes, unchangedPages, saved);
    }
}
