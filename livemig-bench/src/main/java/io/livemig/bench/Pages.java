package io.livemig.bench;

import io.livemig.compress.PageSets;

import java.nio.ByteBuffer;

import static io.livemig.compress.PageSets.PAGE;

/**
 * A page set for the benchmarks: {@link #COUNT} pages in their previous and current versions
 * (what the XBZRLE cache holds, what is sent now).
 *
 * <ul>
 *   <li>{@code text}: log-like ASCII text, each current page a different text from the previous;</li>
 *   <li>{@code zeroheavy}: 40 non-zero bytes per page at random places;</li>
 *   <li>{@code delta8}, {@code delta5pct}, {@code delta25pct}: text pages with 8 bytes, 5 % or
 *       25 % of the bytes changed at random places since the previous version;</li>
 *   <li>{@code random}: incompressible bytes.</li>
 * </ul>
 */
final class Pages {

    static final int COUNT = 1024;

    final ByteBuffer previous = ByteBuffer.allocateDirect(COUNT * PAGE);
    final ByteBuffer current = ByteBuffer.allocateDirect(COUNT * PAGE);

    static Pages of(String set) {
        Pages p = new Pages();
        for (int i = 0; i < COUNT; i++) {
            byte[] before;
            byte[] now;
            switch (set) {
                case "text" -> {
                    before = PageSets.text(i);
                    now = PageSets.text(i + 100_000);
                }
                case "zeroheavy" -> {
                    before = PageSets.zeroHeavy(i);
                    now = PageSets.zeroHeavy(i + 100_000);
                }
                case "delta8" -> {
                    before = PageSets.text(i);
                    now = PageSets.changed(before, 8, i);
                }
                case "delta5pct" -> {
                    before = PageSets.text(i);
                    now = PageSets.changed(before, PAGE / 20, i);
                }
                case "delta25pct" -> {
                    before = PageSets.text(i);
                    now = PageSets.changed(before, PAGE / 4, i);
                }
                case "random" -> {
                    before = PageSets.random(i);
                    now = PageSets.random(i + 100_000);
                }
                default -> throw new IllegalArgumentException("unknown page set " + set);
            }
            p.previous.put(i * PAGE, before);
            p.current.put(i * PAGE, now);
        }
        return p;
    }
}
