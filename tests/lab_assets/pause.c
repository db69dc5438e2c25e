/* Test-lab pause: the sandbox's PID 1 in shared-PID pods. Like the real
 * Kubernetes pause it reaps every child it adopts (zombies reparented to it
 * when a container's init exits) and exits 0 on SIGINT/SIGTERM. Built with
 * `gcc -static` so it runs in an image that holds only busybox. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void term(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction a = {0};
    a.sa_handler = term;
    sigaction(SIGINT, &a, 0);
    sigaction(SIGTERM, &a, 0);
    a.sa_handler = reap;
    a.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &a, 0);
    /* children adopted before the handler was installed */
    reap(0);
    for (;;) pause();
}
