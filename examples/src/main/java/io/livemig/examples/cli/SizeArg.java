package io.livemig.examples.cli;

import io.livemig.api.ByteSize;

/**
 * A size or rate argument with binary suffixes ({@code 512M}, {@code 1G}, {@code 100M}).
 *
 * @param bytes the value in bytes (or bytes per second)
 */
record SizeArg(long bytes) {

    static SizeArg parse(String text) {
        return new SizeArg(ByteSize.parse(text).bytes());
    }

    @Override
    public String toString() {
        return new ByteSize(bytes).toString();
    }
}
