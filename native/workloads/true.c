/* Static `true` for berth's test and benchmark images: exits 0 at once. */
int main(void) { return 0; }
