package io.livemig.kit.contract;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.zip.CRC32C;

/** Helpers of the contract suite: page choices, reads, digests. Not thread-safe; static. */
final class Pages {

    /** Digest of a page the provider says is unpopulated: it reads as zero by contract, so it is not read. */
    static final long ZERO_DIGEST = -1;

    private Pages() {
    }

    /**
     * @return a spread of RAM pages: the first and last page of each region, one in its middle,
     *         and page 7 where it is RAM; sorted, distinct
     */
    static List<Long> spread(MemoryLayout layout) {
        TreeSet<Long> pages = new TreeSet<>();
        for (MemoryRegion region : layout.regions()) {
            pages.add(region.firstPage());
            pages.add(region.firstPage() + region.pageCount() / 2);
            pages.add(region.endPage() - 1);
        }
        if (layout.contains(7)) {
            pages.add(7L);
        }
        return new ArrayList<>(pages);
    }

    /** @return one page read through {@code read} ({@code readPages} of a source or a sink) */
    static byte[] read(int pageSize, long page, ReadPages read) {
        ByteBuffer buffer = ByteBuffer.allocate(pageSize);
        read.readPages(page, 1, buffer);
        return buffer.array();
    }

    /** @return one page of the source */
    static byte[] read(MemorySource source, long page) {
        return read(source.layout().pageSizeBytes(), page, source::readPages);
    }

    /** @return one page of the sink */
    static byte[] read(MemorySink sink, long page) {
        return read(sink.layout().pageSizeBytes(), page, sink::readPages);
    }

    /**
     * @return a CRC32C per page of the span ({@link #ZERO_DIGEST} for pages outside the layout and,
     *         when {@code populated} is given, for pages it leaves out), read region by region in
     *         runs of up to 256 pages
     */
    static long[] digests(MemoryLayout layout, ReadPages read, Optional<PageSet> populated) {
        int pageSize = layout.pageSizeBytes();
        long[] digests = new long[Math.toIntExact(layout.pageSpan())];
        java.util.Arrays.fill(digests, ZERO_DIGEST);
        ByteBuffer buffer = ByteBuffer.allocate(256 * pageSize);
        CRC32C crc = new CRC32C();
        for (MemoryRegion region : layout.regions()) {
            for (long page = region.firstPage(); page < region.endPage(); ) {
                if (populated.isPresent() && !populated.get().contains(page)) {
                    page++;
                    continue;
                }
                int run = (int) Math.min(256, region.endPage() - page);
                buffer.clear();
                read.readPages(page, run, buffer);
                for (int i = 0; i < run; i++) {
                    crc.reset();
                    crc.update(buffer.array(), i * pageSize, pageSize);
                    digests[(int) (page + i)] = isZero(buffer.array(), i * pageSize, pageSize) ? ZERO_DIGEST
                            : crc.getValue();
                }
                page += run;
            }
        }
        return digests;
    }

    /**
     * Pages of a paused source that hold data, with their bytes: what a provider's sink must store.
     * (A sink need not store bytes no source of its kind could produce: the kit's simulated VM
     * recognises only its own synthesized pages.)
     *
     * @return up to {@code max} pages that are not zero, spread over the layout, in page order
     * @throws AssertionError if every page of the source is zero (the fixture's guest wrote nothing)
     */
    static java.util.SortedMap<Long, byte[]> sourcePages(MemorySource source, int max) {
        MemoryLayout layout = source.layout();
        long[] digests = digests(layout, source::readPages, source.populatedPages());
        List<Long> data = new ArrayList<>();
        for (int page = 0; page < digests.length; page++) {
            if (digests[page] != ZERO_DIGEST) {
                data.add((long) page);
            }
        }
        if (data.isEmpty()) {
            throw new AssertionError("the fixture's source must hold data (ProviderFixture.openSource() should return"
                    + " a guest that wrote memory): every page reads as zero");
        }
        java.util.SortedMap<Long, byte[]> pages = new java.util.TreeMap<>();
        int step = Math.max(1, data.size() / max);
        for (int i = 0; i < data.size() && pages.size() < max; i += step) {
            pages.put(data.get(i), read(source, data.get(i)));
        }
        return pages;
    }

    /** @return whether {@code length} bytes of {@code bytes} from {@code offset} are all zero */
    static boolean isZero(byte[] bytes, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            if (bytes[i] != 0) {
                return false;
            }
        }
        return true;
    }

    /** @return a page of bytes no page holds by chance: {@code seed} and the page number, repeated */
    static byte[] pattern(int pageSize, long page, long seed) {
        ByteBuffer b = ByteBuffer.allocate(pageSize);
        while (b.remaining() >= 16) {
            b.putLong(page ^ 0x5A5A_0000_0000_0000L).putLong(seed * 0x9E37_79B9_7F4A_7C15L + b.position());
        }
        return b.array();
    }

    /** @return the pages, written as a short list for a message (at most 10, then a count) */
    static String describe(List<Long> pages) {
        if (pages.size() <= 10) {
            return pages.toString();
        }
        return pages.subList(0, 10) + " and " + (pages.size() - 10) + " more";
    }

    /** @return the pages of {@code set}, in order */
    static List<Long> list(PageSet set) {
        List<Long> pages = new ArrayList<>();
        for (long p = set.nextSetBit(0); p >= 0; p = set.nextSetBit(p + 1)) {
            pages.add(p);
        }
        return pages;
    }

    /** Something that reads pages as {@link MemorySource#readPages} does. */
    @FunctionalInterface
    interface ReadPages {
        void readPages(long firstPage, int pageCount, ByteBuffer destination);
    }
}
