/**
 * livemig's KVM provider: the {@code kvm:} scheme, guests run by a small VMM of its own on
 * {@code /dev/kvm} (ioctls and userfaultfd bound with java.lang.foreign), with virtio-blk disks
 * backed by {@code io.livemig.disk} images. Needs {@code --enable-native-access=io.livemig.kvm}
 * ({@code ALL-UNNAMED} on the class path). The kernel bindings live in
 * {@code io.livemig.kvm.internal}, which is not exported.
 */
module io.livemig.kvm {
    requires transitive io.livemig.api;
    requires transitive io.livemig.disk;
    requires org.slf4j;

    exports io.livemig.kvm;

    provides io.livemig.spi.HypervisorProvider with io.livemig.kvm.KvmProvider;
}
