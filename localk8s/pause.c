/*
 * pause: the pod sandbox process of the local node (the kubelet's "pause" image).
 *
 * It holds the pod's namespaces open and does nothing else: it sleeps until SIGINT or SIGTERM
 * (then exits 0) and, as PID 1 of a pod with a shared PID namespace, reaps every child that is
 * re-parented to it. Built with `gcc -static -Os -s`, it is the only file of the image.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
    (void)sig;
    _exit(0);
}

static void on_child(int sig) {
    int saved = errno;
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

int main(int argc, char **argv) {
    struct sigaction stop, child;

    if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        printf("pause (jupyterhub-primehub localk8s)\n");
        return 0;
    }
    if (getpid() != 1) {
        /* Fine (e.g. a test runs it directly), but say so: reaping then only covers our own
         * children. */
        fprintf(stderr, "pause: warning: not PID 1\n");
    }

    memset(&stop, 0, sizeof(stop));
    stop.sa_handler = on_stop;
    sigemptyset(&stop.sa_mask);
    if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0) {
        perror("pause: sigaction");
        return 1;
    }

    memset(&child, 0, sizeof(child));
    child.sa_handler = on_child;
    sigemptyset(&child.sa_mask);
    child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &child, NULL) < 0) {
        perror("pause: sigaction");
        return 2;
    }

    for (;;) {
        pause();
    }
    return 42; /* not reached */
}
