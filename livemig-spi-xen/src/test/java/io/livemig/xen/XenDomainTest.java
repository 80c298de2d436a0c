package io.livemig.xen;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import io.livemig.xen.internal.HvmState;
import io.livemig.xen.internal.XenAbi;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One domain through the provider's bindings, against the simulated Xen: memory, log-dirty, pause and state. */
class XenDomainTest {

    @AfterEach
    void destroyTheDomains() {
        XenShim.reset();
    }

    @Test
    void collectReturnsThePagesWrittenSinceTheLastCollectAndNothingOnceThePauseTookEffect() throws Exception {
        // The guest writes into frames [0x400, 0x800) only.
        int id = XenShim.createDomain("tracked", 16L << 20, 1, 50, 0x400, 0x400);
        try (XenDomain domain = XenDomain.openSource(XenShim.libraries(), id)) {
            DirtyTracker tracker = domain.dirtyTracker().orElseThrow();
            tracker.start();
            long writes = XenShim.guestWrites(id);
            XenShim.awaitWrites(id, writes + 2000);
            PageSet dirty = tracker.collect();
            assertTrue(dirty.cardinality() > 0);
            for (long p = dirty.nextSetBit(0); p >= 0; p = dirty.nextSetBit(p + 1)) {
                assertTrue(p >= 0x400 && p < 0x800, "page " + p + " is outside the guest's working set");
            }
            domain.vcpus().pause();
            tracker.collect(); // what was written up to the pause
            assertEquals(0, tracker.collect().cardinality(), "a paused domain dirties nothing");
            PageSet back = new PageSet(dirty.pageSpan());
            back.add(0x10);
            tracker.redirty(back);
            assertEquals(back, tracker.collect(), "given-back pages come out of the next collect");
            tracker.stop();
            domain.vcpus().resume();
            assertEquals(0, XenShim.pauseCount(id));
        }
    }

    @Test
    void pagesReadThroughTheForeignMappingsAreTheGuestsAndHolesAreRefused() throws Exception {
        int id = XenShim.createDomain("read", 8L << 20, 1, 0, 0, 1);
        try (XenDomain domain = XenDomain.openSource(XenShim.libraries(), id)) {
            assertEquals(List.of(new MemoryRegion(0, 0xa0), new MemoryRegion(0xc0, 0x800 - 0xa0)),
                    domain.memory().layout().regions());
            // Each page starts with its frame number, stamped by the shim; a run across a 4 MiB mapping boundary.
            ByteBuffer buffer = ByteBuffer.allocate(4 * XenAbi.PAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            domain.memory().readPages(0x3fe, 4, buffer);
            for (int i = 0; i < 4; i++) {
                assertEquals(0x5eed000000000000L | (0x3fe + i), buffer.getLong(i * XenAbi.PAGE_BYTES));
            }
            assertThrows(IndexOutOfBoundsException.class,
                    () -> domain.memory().readPages(0x9f, 2, ByteBuffer.allocate(2 * XenAbi.PAGE_BYTES)));
        }
    }

    @Test
    void theHvmContextAndParametersTravelWithVcpuZeroAndTheOthersAreEmpty() throws Exception {
        int id = XenShim.createDomain("state", 4L << 20, 3, 0, 0, 1);
        try (XenDomain domain = XenDomain.openSource(XenShim.libraries(), id)) {
            assertThrows(IllegalStateException.class, () -> domain.vcpus().saveState(), "running");
            domain.vcpus().pause();
            List<VcpuState> states = domain.vcpus().saveState();
            assertEquals(3, states.size());
            HvmState state = HvmState.decode(states.get(0).data());
            assertEquals(List.of(1L, 0xfeffcL, 17L, 0xfeffbL), java.util.Arrays.stream(state.params()).boxed().toList());
            assertTrue(state.context().length > 0);
            assertEquals(0, states.get(1).sizeBytes());
            assertEquals(0, states.get(2).sizeBytes());
            assertFalse(domain.vcpus().throttle().isPresent(), "Xen offers no throttle");
            domain.vcpus().resume();
        }
    }
}
