// Makes Synchronization.Mutex visible to ThreadSanitizer on Linux x86_64 (Tools/sanitize.sh
// thread preloads it). Not linked into anything shipped.
//
// Why: Mutex's fast paths (an atomic compare-exchange on the lock word) are inlined into our
// instrumented code, so TSan sees them, but under contention the lock is taken and released
// by futex(2) inside libswiftSynchronization.so, which TSan neither instruments nor
// intercepts. A thread that got the lock on the slow path then has no happens-before edge
// with the previous owner, and TSan reports every access to the guarded state as a race
// (reproduced in docs/HARDENING.md with 10 lines and no client code).
//
// How: interpose the three exported slow paths that the inlined fast paths call,
//   _MutexHandle._lockSlow(UInt32)  -> call the real one, then __tsan_acquire(lock word)
//   _MutexHandle._unlockSlow()      -> __tsan_release(lock word), then the real one
//   _MutexHandle._tryLockSlow()     -> call the real one, then, if it took the lock,
//                                      __tsan_acquire(lock word)
// `self` (the lock word's address) arrives in r13, Swift's self register, hence assembly.
#define _GNU_SOURCE
#include <dlfcn.h>

#if !defined(__x86_64__)
#error "mutex-visible.c is written for x86_64 (r13 is Swift's self register there)"
#endif

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"
#define TRYLOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"

__attribute__((visibility("hidden"))) void *nats_real_lock_slow;
__attribute__((visibility("hidden"))) void *nats_real_unlock_slow;
__attribute__((visibility("hidden"))) void *nats_real_trylock_slow;
__attribute__((visibility("hidden"))) void *nats_tsan_acquire;
__attribute__((visibility("hidden"))) void *nats_tsan_release;

__attribute__((constructor)) static void nats_mutex_visible_init(void) {
    nats_real_lock_slow = dlsym(RTLD_NEXT, LOCK_SLOW);
    nats_real_unlock_slow = dlsym(RTLD_NEXT, UNLOCK_SLOW);
    nats_real_trylock_slow = dlsym(RTLD_NEXT, TRYLOCK_SLOW);
    nats_tsan_acquire = dlsym(RTLD_DEFAULT, "__tsan_acquire");
    nats_tsan_release = dlsym(RTLD_DEFAULT, "__tsan_release");
    // Children without Swift (nats-server, python3, env) inherit LD_PRELOAD too: there the
    // pointers stay null and the interposed symbols are never called.
}

// r13 (self) is callee-saved in both the Swift and the C convention; the stack is kept
// 16-byte aligned at every call. Without a TSan runtime (tsan pointers null) it only forwards.
__asm__(
    ".text\n"
    ".globl \"" LOCK_SLOW "\"\n"
    ".type \"" LOCK_SLOW "\", @function\n"
    "\"" LOCK_SLOW "\":\n"
    "    pushq %r13\n"
    "    callq *nats_real_lock_slow(%rip)\n"
    "    movq (%rsp), %rdi\n"
    "    movq nats_tsan_acquire(%rip), %rax\n"
    "    testq %rax, %rax\n"
    "    je 1f\n"
    "    callq *%rax\n"
    "1:  popq %r13\n"
    "    retq\n"
    ".size \"" LOCK_SLOW "\", .-\"" LOCK_SLOW "\"\n"
    "\n"
    ".globl \"" UNLOCK_SLOW "\"\n"
    ".type \"" UNLOCK_SLOW "\", @function\n"
    "\"" UNLOCK_SLOW "\":\n"
    "    pushq %r13\n"
    "    movq %r13, %rdi\n"
    "    movq nats_tsan_release(%rip), %rax\n"
    "    testq %rax, %rax\n"
    "    je 2f\n"
    "    callq *%rax\n"
    "2:  popq %r13\n"
    "    jmpq *nats_real_unlock_slow(%rip)\n"
    ".size \"" UNLOCK_SLOW "\", .-\"" UNLOCK_SLOW "\"\n"
    "\n"
    // `withLockIfAvailable`: the real slow path, then, when it took the lock (true in al),
    // __tsan_acquire(lock word) with the result kept on the stack.
    ".globl \"" TRYLOCK_SLOW "\"\n"
    ".type \"" TRYLOCK_SLOW "\", @function\n"
    "\"" TRYLOCK_SLOW "\":\n"
    "    pushq %r13\n"
    "    callq *nats_real_trylock_slow(%rip)\n"
    "    testb %al, %al\n"
    "    je 3f\n"
    "    movq nats_tsan_acquire(%rip), %rcx\n"
    "    testq %rcx, %rcx\n"
    "    je 3f\n"
    "    subq $16, %rsp\n"
    "    movq %rax, (%rsp)\n"
    "    movq 16(%rsp), %rdi\n"
    "    callq *%rcx\n"
    "    movq (%rsp), %rax\n"
    "    addq $16, %rsp\n"
    "3:  popq %r13\n"
    "    retq\n"
    ".size \"" TRYLOCK_SLOW "\", .-\"" TRYLOCK_SLOW "\"\n"
);
