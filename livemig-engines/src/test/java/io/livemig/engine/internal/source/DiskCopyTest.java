package io.livemig.engine.internal.source;

import io.livemig.api.DiskCopyMode;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.engine.internal.strategy.CopyContext;
import io.livemig.engine.internal.wire.Wire;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verifyNoInteractions;

/**
 * {@link DiskCopy} of a VM without disks: it makes none of its buffers (the frame writer alone
 * takes the 16 MiB frame limit of direct memory, on the migration's way to its first round) and
 * sends nothing.
 */
class DiskCopyTest {

    @Test
    void aVmWithoutDisksGetsNoDiskBuffersAndSendsNothing() throws Exception {
        SourceLink link = mock(SourceLink.class);
        DiskCopy disks = new DiskCopy(List.of(), Strategy.COLD, DiskCopyMode.BACKGROUND, link, TimeSource.system());
        disks.start(Wire.DEFAULT_MAX_FRAME_BYTES);
        assertFalse(disks.buffersMade());
        assertFalse(disks.any());
        assertSame(CopyContext.DiskRound.NONE, disks.sendRound(true));
        verifyNoInteractions(link);
    }
}
