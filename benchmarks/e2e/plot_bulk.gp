# Bulk scenario: memberships/s and per-course latency over time (gnuplot -e "dir='…'" plot_bulk.gp).
set terminal pngcairo size 1200,900 font ",10" noenhanced
set output dir.'/bulk.png'
set multiplot layout 3,1 title "rostersync e2e: unthrottled bulk"
set grid
set xlabel "seconds since the first CourseSeen was published"
set ylabel "memberships/s"
plot dir.'/bulk.dat' using 1:2 with steps lw 2 title "changes acknowledged per second"
set ylabel "latency (s)"
plot dir.'/bulk_latency.dat' using 1:2 with points pt 7 ps 0.3 title "CourseSeen → last event, per course (at its completion)"
set ylabel "daemon CPU % / RSS MiB"
plot dir.'/bulk_proc.dat' using 1:2 with lines lw 2 title "CPU % (200 = both cores)", \
     '' using 1:3 with lines lw 2 title "RSS MiB"
unset multiplot
