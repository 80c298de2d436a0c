/**
 * Page codecs for livemig: zero pages, XBZRLE delta compression, LZ4, Zstd and dedup, one codec
 * per file behind the {@link io.livemig.compress.PageCodec} interface, with the source's chooser
 * ({@link io.livemig.compress.PageEncoder}) and the destination's decoder
 * ({@link io.livemig.compress.PageDecoder}). Pure functions over {@link java.nio.ByteBuffer}s
 * plus the history some codecs keep; no knowledge of strategies or transports.
 */
module io.livemig.compress {
    exports io.livemig.compress;

    requires static org.slf4j;
    requires org.lz4.java;
    requires com.github.luben.zstd_jni;
    requires com.google.common;
}
