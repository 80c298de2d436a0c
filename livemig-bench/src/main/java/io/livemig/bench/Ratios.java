package io.livemig.bench;

import com.github.luben.zstd.ZstdCompressCtx;
import io.livemig.compress.Xbzrle;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Factory;

import java.util.Locale;

import static io.livemig.compress.PageSets.PAGE;

/**
 * Prints the compression ratio (input bytes over encoded bytes) of each codec on each page set
 * of {@link CodecBenchmarks}, one {@code codec set ratio} line each; bench/codecs.sh joins them
 * with the speeds. A page a codec gives up on (XBZRLE delta larger than the page) counts whole.
 */
public final class Ratios {

    private Ratios() {
    }

    /** @param args ignored */
    public static void main(String[] args) {
        LZ4Compressor lz4 = LZ4Factory.fastestInstance().fastCompressor();
        ZstdCompressCtx zstd1 = new ZstdCompressCtx().setLevel(1);
        ZstdCompressCtx zstd3 = new ZstdCompressCtx().setLevel(3);
        for (String set : new String[] {"text", "zeroheavy", "delta8", "delta5pct", "delta25pct", "random"}) {
            Pages pages = Pages.of(set);
            print("xbzrle", set, Encoded.of(pages, (i, dst) -> Xbzrle.encode(pages.previous, i * PAGE, pages.current,
                    i * PAGE, PAGE, dst, PAGE)));
            print("lz4", set, Encoded.of(pages, (i, dst) -> lz4.compress(pages.current, i * PAGE, PAGE, dst,
                    dst.position(), dst.remaining())));
            print("zstd1", set, Encoded.of(pages, (i, dst) -> zstd1.compressDirectByteBuffer(dst, dst.position(),
                    dst.remaining(), pages.current, i * PAGE, PAGE)));
            print("zstd3", set, Encoded.of(pages, (i, dst) -> zstd3.compressDirectByteBuffer(dst, dst.position(),
                    dst.remaining(), pages.current, i * PAGE, PAGE)));
        }
    }

    private static void print(String codec, String set, Encoded e) {
        System.out.println(String.format(Locale.ROOT, "%s %s %.2f", codec, set, e.ratio()));
    }
}
