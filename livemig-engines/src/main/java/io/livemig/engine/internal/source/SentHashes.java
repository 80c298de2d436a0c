package io.livemig.engine.internal.source;

import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;

import java.nio.ByteBuffer;
import java.security.SecureRandom;

/**
 * The xxHash64 of what a framer last sent of each page, kept for pages sent in small rounds
 * (at most {@value #SMALL_ROUND_PAGES} pages: the rounds just before a switchover are small,
 * and their pages are the ones the stop-copy may send again). A page the dirty log reports
 * again whose content hashes as it did when it was sent has not changed since: the guest wrote
 * the same bytes again, or the dirty log reported a page nobody wrote (kvm-pvm's reports an idle
 * guest's whole working set at nearly every collect). It need not travel again. A false match
 * needs a 64-bit collision under a seed drawn per migration, which the guest cannot see; the
 * verification (CRC32C, an unrelated function) would then still see the page differ.
 *
 * <p>A page sent without a hash (in a bigger round, or as a zero page) forgets the hash it had,
 * so a hash always describes the last version sent. Memory: one chunk of
 * {@value #CHUNK_PAGES} hashes (32 KiB) per region of pages where one was recorded; layouts
 * whose span is too large for the chunk index keep no hashes.
 *
 * <p>One framer's thread only, like the framer that owns it.
 */
final class SentHashes {

    /** The largest round whose pages are hashed as they are sent. */
    static final int SMALL_ROUND_PAGES = 4096;
    private static final int CHUNK_SHIFT = 12;
    private static final int CHUNK_PAGES = 1 << CHUNK_SHIFT;
    /** Above this many chunks (a span of 16 Ti pages) no hash is kept. */
    private static final long MAX_CHUNKS = 1L << 20;
    private static final XXHash64 HASH = XXHashFactory.safeInstance().hash64();
    private static final SecureRandom SEEDS = new SecureRandom();

    private final long seed = SEEDS.nextLong();
    /**
     * Hash + 1 of the version last sent of each page, 0 for none; a chunk is null where none was
     * ever kept; the whole is null when the span is too large to keep any.
     */
    private long[][] chunks;

    /** @param pageSpan the layout's page span */
    SentHashes(long pageSpan) {
        long count = (pageSpan + CHUNK_PAGES - 1) >>> CHUNK_SHIFT;
        this.chunks = count <= MAX_CHUNKS ? new long[(int) count][] : null;
    }

    /**
     * Hashes one page that is about to be sent: if that is the hash of the version last sent, says
     * so (the caller leaves the page out); otherwise records it as the version now sent.
     *
     * @param page the page number
     * @param buf  the page's bytes at {@code [at, at + length)}; its position is not moved
     * @return whether the page is as it was last sent
     */
    boolean sameAsSent(long page, ByteBuffer buf, int at, int length) {
        if (chunks == null) {
            return false;
        }
        long h = HASH.hash(buf, at, length, seed);
        long stored = h == -1 ? h : h + 1; // 0 is "none"; -1 + 1 would be 0 (one value in 2^64 shared)
        int c = (int) (page >>> CHUNK_SHIFT);
        long[] chunk = chunks[c];
        if (chunk == null) {
            chunk = new long[CHUNK_PAGES];
            chunks[c] = chunk;
        } else if (chunk[(int) page & (CHUNK_PAGES - 1)] == stored) {
            return true;
        }
        chunk[(int) page & (CHUNK_PAGES - 1)] = stored;
        return false;
    }

    /** Forgets the hash of {@code page}: it is being sent without one. */
    void forget(long page) {
        if (chunks == null) {
            return;
        }
        long[] chunk = chunks[(int) (page >>> CHUNK_SHIFT)];
        if (chunk != null) {
            chunk[(int) page & (CHUNK_PAGES - 1)] = 0;
        }
    }

    /** Forgets every hash: frames were dropped unsent, so what the destination holds is not known page by page. */
    void clear() {
        if (chunks != null) {
            chunks = new long[chunks.length][];
        }
    }
}
