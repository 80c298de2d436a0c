package io.livemig.bench;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import io.livemig.compress.PageEncoder;
import io.livemig.compress.PageEncoding;
import io.livemig.compress.Xbzrle;
import io.livemig.compress.ZeroPages;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.concurrent.TimeUnit;

import static io.livemig.compress.PageSets.PAGE;

/**
 * Encode and decode speed of every page codec, one thread, over {@value Pages#COUNT} pages of
 * 4 KiB (4 MiB, more than this machine's L2 cache) of each page set. Every benchmark method
 * handles all pages of its set once, and declares them as operations: the score is pages per
 * second per core; bench/codecs.sh turns it into GB/s of input pages.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CodecBenchmarks {

    /** Input pages, and the encoded form each codec made of them in setup, for the decoders. */
    @State(Scope.Thread)
    public static class Data {
        @Param({"text", "zeroheavy", "delta8", "delta5pct", "delta25pct", "random"})
        public String set;

        Pages pages;
        ByteBuffer out;
        ByteBuffer page;
        final LZ4Compressor lz4 = LZ4Factory.fastestInstance().fastCompressor();
        final LZ4SafeDecompressor unlz4 = LZ4Factory.fastestInstance().safeDecompressor();
        final ZstdCompressCtx zstd1 = new ZstdCompressCtx().setLevel(1);
        final ZstdCompressCtx zstd3 = new ZstdCompressCtx().setLevel(3);
        final ZstdDecompressCtx unzstd = new ZstdDecompressCtx();
        Encoded xbzrle;
        Encoded lz4Pages;
        Encoded zstd3Pages;

        @Setup(Level.Trial)
        public void setUp() {
            pages = Pages.of(set);
            out = ByteBuffer.allocateDirect(2 * PAGE);
            page = ByteBuffer.allocateDirect(PAGE);
            xbzrle = Encoded.of(pages, (i, dst) -> Xbzrle.encode(pages.previous, i * PAGE, pages.current, i * PAGE,
                    PAGE, dst, PAGE));
            lz4Pages = Encoded.of(pages, (i, dst) -> lz4.compress(pages.current, i * PAGE, PAGE, dst,
                    dst.position(), dst.remaining()));
            zstd3Pages = Encoded.of(pages, (i, dst) -> zstd3.compressDirectByteBuffer(dst, dst.position(),
                    dst.remaining(), pages.current, i * PAGE, PAGE));
        }
    }

    /** The adaptive encoder with zero, XBZRLE and LZ4 on, its cache warmed with the previous versions. */
    @State(Scope.Thread)
    public static class Adaptive {
        @Param({"text", "delta8", "random"})
        public String set;

        Pages pages;
        PageEncoder encoder;
        ByteBuffer frame;
        boolean flip;

        @Setup(Level.Trial)
        public void setUp() {
            pages = Pages.of(set);
            encoder = new PageEncoder(new PageEncoder.Config(EnumSet.of(PageEncoding.XBZRLE, PageEncoding.LZ4),
                    2L * Pages.COUNT * PAGE, 3), PAGE, Pages.COUNT);
            frame = ByteBuffer.allocateDirect(PAGE);
            for (int i = 0; i < Pages.COUNT; i++) {
                frame.put(0, pages.previous, i * PAGE, PAGE);
                encoder.encode(i, frame, 0, ZeroPages.isZero(frame, 0, PAGE), true);
            }
        }
    }

    /** Zero pages, the worst case of zero detection: every byte is looked at. */
    @State(Scope.Thread)
    public static class Zeros {
        final ByteBuffer pages = ByteBuffer.allocateDirect(Pages.COUNT * PAGE);
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public int zeroDetection(Zeros z) {
        int zero = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            zero += ZeroPages.isZero(z.pages, i * PAGE, PAGE) ? 1 : 0;
        }
        return zero;
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public int xbzrleEncode(Data d) {
        int bytes = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            d.out.clear();
            bytes += Xbzrle.encode(d.pages.previous, i * PAGE, d.pages.current, i * PAGE, PAGE, d.out, PAGE);
        }
        return bytes;
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public ByteBuffer xbzrleDecode(Data d) {
        Encoded e = d.xbzrle;
        for (int i = 0; i < Pages.COUNT; i++) {
            if (e.length[i] > 0) {
                d.page.put(0, d.pages.previous, i * PAGE, PAGE);
                Xbzrle.decode(e.data, e.offset[i], e.length[i], d.page, 0, PAGE, i);
            }
        }
        return d.page;
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public int lz4Compress(Data d) {
        int bytes = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            bytes += d.lz4.compress(d.pages.current, i * PAGE, PAGE, d.out, 0, d.out.capacity());
        }
        return bytes;
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public int lz4Decompress(Data d) {
        Encoded e = d.lz4Pages;
        int bytes = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            bytes += d.unlz4.decompress(e.data, e.offset[i], e.length[i], d.page, 0, PAGE);
        }
        return bytes;
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public long zstd1Compress(Data d) {
        return zstdCompress(d, d.zstd1);
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public long zstd3Compress(Data d) {
        return zstdCompress(d, d.zstd3);
    }

    private static long zstdCompress(Data d, ZstdCompressCtx ctx) {
        long bytes = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            bytes += ctx.compressDirectByteBuffer(d.out, 0, d.out.capacity(), d.pages.current, i * PAGE, PAGE);
        }
        return bytes;
    }

    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public long zstdDecompress(Data d) {
        Encoded e = d.zstd3Pages;
        long bytes = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            int n = d.unzstd.decompressDirectByteBuffer(d.page, 0, PAGE, e.data, e.offset[i], e.length[i]);
            if (Zstd.isError(n)) {
                throw new IllegalStateException(Zstd.getErrorName(n));
            }
            bytes += n;
        }
        return bytes;
    }

    /**
     * Reads, zero-checks and encodes like the engine does (copy into the frame, encode in place).
     * Invocations alternate between the previous and the current version of the pages, so each
     * one meets a cache holding the other version: the same deltas every time.
     */
    @Benchmark
    @OperationsPerInvocation(Pages.COUNT)
    public long adaptiveEncode(Adaptive a) {
        ByteBuffer source = a.flip ? a.pages.previous : a.pages.current;
        a.flip = !a.flip;
        long bytes = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            a.frame.put(0, source, i * PAGE, PAGE);
            int n = a.encoder.encode(i, a.frame, 0, ZeroPages.isZero(a.frame, 0, PAGE), true);
            bytes += n == PageEncoder.UNCHANGED ? 0 : n;
        }
        return bytes;
    }
}
