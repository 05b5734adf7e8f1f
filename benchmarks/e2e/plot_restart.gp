# Restart scenario: partitions live and memberships tracked while an instance restores.
set terminal pngcairo size 1200,700 font ",10" noenhanced
set output dir.'/restart.png'
set multiplot layout 2,1 title "rostersync e2e: restart (restore of the tracked memberships)"
set grid
set xlabel "seconds since the process started"
set ylabel "memberships tracked"
set y2label "RSS MiB"
set y2tics
plot dir.'/restart_replay.dat' using 1:4 with lines lw 2 title "replay only: memberships", \
     dir.'/restart_table.dat' using 1:4 with lines lw 2 title "table load: memberships", \
     dir.'/restart_replay.dat' using 1:5 axes x1y2 with lines dt 2 title "replay only: RSS", \
     dir.'/restart_table.dat' using 1:5 axes x1y2 with lines dt 2 title "table load: RSS"
unset y2tics
unset y2label
set ylabel "partitions live"
set yrange [0:13]
plot dir.'/restart_replay.dat' using 1:2 with steps lw 2 title "replay only", \
     dir.'/restart_table.dat' using 1:2 with steps lw 2 title "table load"
unset multiplot
