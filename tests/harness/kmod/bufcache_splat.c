// SPDX-License-Identifier: GPL-2.0
/*
 * bufcache_splat - self-test module for the dm-bufcache QEMU test harness.
 *
 * The harness (scripts/vm-run.sh) fails a test when the kernel log shows a
 * splat. This module makes the kernel report one on demand, so the harness
 * can prove that it notices. Write an action name to
 * /sys/kernel/debug/bufcache_splat/provoke (read the file for the list):
 *
 *   warn           WARN_ON(1)
 *                  -> "WARNING: CPU: ... bufcache_splat.c"
 *   atomic_sleep   kmalloc(GFP_KERNEL) under a spinlock: a might_sleep()
 *                  call in atomic context, caught by DEBUG_ATOMIC_SLEEP
 *                  -> "BUG: sleeping function called from invalid context"
 *   atomic_msleep  msleep() under a spinlock. msleep() has no might_sleep()
 *                  annotation, so this is caught only when it really
 *                  schedules -> "BUG: scheduling while atomic" (and leaves
 *                  the preempt count of the writer in a bad state: use it
 *                  only at the end of a boot)
 *   lockdep        two mutexes taken A then B, later B then A, serially by
 *                  one thread: no real deadlock, but lockdep sees the
 *                  AB-BA order -> "WARNING: possible circular locking
 *                  dependency detected"
 *   leak           kzalloc() 8 objects and drop the pointers
 *                  -> kmemleak "unreferenced object" on the next scan
 *                  that comes 5 s or more after the allocation
 *   redzone        one byte written past a kmalloc(32) object, then
 *                  kfree(): with slub_debug=FZ the free's check
 *                  -> "BUG kmalloc-32 (...): Right Redzone overwritten"
 *   hang           the writer sleeps uninterruptibly forever: SIGKILL
 *                  cannot end it (the guest's timeout abandons it)
 *   freeze         every CPU spins forever with interrupts off
 *                  (stop_machine): the whole VM stops, only the host can
 *                  end it (host-side timeout test)
 *   triple_fault   load an empty IDT and trap: the CPU resets at once,
 *                  without a kernel message (the harness must still say
 *                  why the VM ended)
 *
 * Lockdep turns itself off after its first report, which is why the harness
 * boots a fresh VM for every test.
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/stop_machine.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/desc.h>

static DEFINE_SPINLOCK(splat_spin);
static DEFINE_MUTEX(splat_mutex_a);
static DEFINE_MUTEX(splat_mutex_b);
static struct dentry *splat_dir;

static noinline void provoke_warn(void)
{
	WARN_ON(1);
}

static noinline void provoke_atomic_sleep(void)
{
	void *p;

	spin_lock(&splat_spin);
	p = kmalloc(64, GFP_KERNEL);	/* may sleep: invalid here */
	spin_unlock(&splat_spin);
	kfree(p);
}

static noinline void provoke_atomic_msleep(void)
{
	spin_lock(&splat_spin);
	msleep(1);
	spin_unlock(&splat_spin);
}

static noinline void provoke_lockdep(void)
{
	mutex_lock(&splat_mutex_a);
	mutex_lock(&splat_mutex_b);
	mutex_unlock(&splat_mutex_b);
	mutex_unlock(&splat_mutex_a);

	mutex_lock(&splat_mutex_b);
	mutex_lock(&splat_mutex_a);	/* B -> A after A -> B: reported */
	mutex_unlock(&splat_mutex_a);
	mutex_unlock(&splat_mutex_b);
}

static noinline void provoke_leak(void)
{
	int i, n = 0;

	/*
	 * Several zeroed objects. Zeroed, because a fresh object may still
	 * hold SLUB's stale free pointer to the next object, which would
	 * "reference" that one. Several, because a stale copy of the last
	 * pointer may survive on a stack and keep that one referenced.
	 */
	for (i = 0; i < 8; i++) {
		if (kzalloc(256, GFP_KERNEL))
			n++;
	}
	pr_info("bufcache_splat: leaked %d objects of 256 bytes\n", n);
}

/*
 * One byte past a kmalloc'ed object, into its right red zone
 * (slub_debug=Z); the free's consistency check (F) reports it.
 */
static noinline void provoke_redzone(void)
{
	char *p = kmalloc(32, GFP_KERNEL);

	if (!p)
		return;
	OPTIMIZER_HIDE_VAR(p);
	p[32] = 0x5a;
	kfree(p);
}

static noinline void provoke_hang(void)
{
	for (;;)
		schedule_timeout_uninterruptible(MAX_SCHEDULE_TIMEOUT);
}

static int freeze_fn(void *unused)
{
	for (;;)
		cpu_relax();
	return 0;
}

static noinline void provoke_freeze(void)
{
	stop_machine(freeze_fn, NULL, NULL);
}

static noinline void provoke_triple_fault(void)
{
	struct desc_ptr empty = { .size = 0, .address = 0 };

	local_irq_disable();
	load_idt(&empty);
	asm volatile("int3");
}

static const struct {
	const char *name;
	void (*fn)(void);
} splat_actions[] = {
	{ "warn", provoke_warn },
	{ "atomic_sleep", provoke_atomic_sleep },
	{ "atomic_msleep", provoke_atomic_msleep },
	{ "lockdep", provoke_lockdep },
	{ "leak", provoke_leak },
	{ "redzone", provoke_redzone },
	{ "hang", provoke_hang },
	{ "freeze", provoke_freeze },
	{ "triple_fault", provoke_triple_fault },
};

static ssize_t provoke_write(struct file *file, const char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	char buf[32];
	size_t n = min(len, sizeof(buf) - 1);
	int i;

	if (copy_from_user(buf, ubuf, n))
		return -EFAULT;
	buf[n] = '\0';

	for (i = 0; i < ARRAY_SIZE(splat_actions); i++) {
		if (sysfs_streq(buf, splat_actions[i].name)) {
			pr_info("bufcache_splat: provoking '%s'\n",
				splat_actions[i].name);
			splat_actions[i].fn();
			pr_info("bufcache_splat: '%s' done\n",
				splat_actions[i].name);
			return len;
		}
	}
	return -EINVAL;
}

static ssize_t provoke_read(struct file *file, char __user *ubuf,
			    size_t len, loff_t *ppos)
{
	char buf[192];
	int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(splat_actions); i++)
		n += scnprintf(buf + n, sizeof(buf) - n, "%s\n",
			       splat_actions[i].name);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations provoke_fops = {
	.owner = THIS_MODULE,
	.read = provoke_read,
	.write = provoke_write,
	.llseek = default_llseek,
};

static int __init bufcache_splat_init(void)
{
	splat_dir = debugfs_create_dir("bufcache_splat", NULL);
	if (IS_ERR(splat_dir))
		return PTR_ERR(splat_dir);
	debugfs_create_file("provoke", 0600, splat_dir, NULL, &provoke_fops);
	pr_info("bufcache_splat: loaded; write an action to /sys/kernel/debug/bufcache_splat/provoke\n");
	return 0;
}

static void __exit bufcache_splat_exit(void)
{
	debugfs_remove_recursive(splat_dir);
}

module_init(bufcache_splat_init);
module_exit(bufcache_splat_exit);
MODULE_DESCRIPTION("dm-bufcache test harness self-test: provokes kernel splats on demand");
MODULE_LICENSE("GPL");
