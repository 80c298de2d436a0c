/**
 * Page codecs for livemig: zero pages, XBZRLE delta compression, LZ4, Zstd and dedup. Pure
 * functions over {@link java.nio.ByteBuffer}s plus the caches some codecs need; no knowledge of
 * strategies or transports.
 */
module io.livemig.compress {
    exports io.livemig.compress;

    requires static org.slf4j;
    requires org.lz4.java;
    requires com.github.luben.zstd_jni;
    requires com.google.common;
}
