package io.livemig.engine.internal.wire;

import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;

import java.nio.ByteBuffer;

/**
 * The digest of disk blocks on the wire and in verification: xxHash64 with seed 0 (lz4-java's
 * pure-Java implementation, so that no native library loads for it).
 */
public final class BlockDigest {

    private static final XXHash64 HASH = XXHashFactory.safeInstance().hash64();

    private BlockDigest() {
    }

    /** @return the xxHash64 of the bytes between {@code bytes}' position and limit (which it does not move) */
    public static long of(ByteBuffer bytes) {
        return HASH.hash(bytes, bytes.position(), bytes.remaining(), 0);
    }
}
